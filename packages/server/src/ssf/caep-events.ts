/**
 * What the CAEP 1.0 events of a verified SET ask Verity to do: revoke a subject's tokens, change
 * a device's compliance, record an assurance level. Pure: subjects are read here (RFC 9493 and
 * SSF 1.0 complex subjects), mapped to principals by the receiver.
 */
import { isPlainObject } from '@verity/core';
import { setError, type VerifiedSet } from '@verity/identity';

const CAEP_EVENT = 'https://schemas.openid.net/secevent/caep/event-type/';
/** CAEP 1.0 §3.1. */
export const SESSION_REVOKED = `${CAEP_EVENT}session-revoked`;
/** CAEP 1.0 §3.3. */
export const CREDENTIAL_CHANGE = `${CAEP_EVENT}credential-change`;
/** CAEP 1.0 §3.4. */
export const ASSURANCE_LEVEL_CHANGE = `${CAEP_EVENT}assurance-level-change`;
/** CAEP 1.0 §3.5. */
export const DEVICE_COMPLIANCE_CHANGE = `${CAEP_EVENT}device-compliance-change`;

/** A user as a SET names it (RFC 9493 formats Verity can map to a principal). */
export type UserSubject = { format: 'opaque'; id: string } | { format: 'iss_sub'; iss: string; sub: string } | { format: 'email'; email: string };

/** One thing a SET asks for. `atSec`: when it happened (event_timestamp, else toe, else iat). */
export type CaepEffect =
  | { kind: 'revoke'; event: string; subject: UserSubject; atSec: number }
  | { kind: 'device'; deviceId: string; compliant: boolean; atSec: number }
  | { kind: 'assurance'; subject: UserSubject; acr: string; atSec: number };

/** The effects of a SET's known events, and the event types it carried that Verity ignores. */
export interface CaepEffects {
  effects: CaepEffect[];
  ignored: string[];
}

const text = (value: unknown, max = 1024): value is string => typeof value === 'string' && value.length > 0 && value.length <= max;
const unsupported = (detail: string) => setError('ERR_SSF_SUBJECT_UNSUPPORTED', detail);
const invalid = (detail: string) => setError('ERR_SSF_SET_INVALID', detail);

/** A simple subject identifier (RFC 9493 §3) naming a user, or null when it is of another format. */
function userOf(id: Record<string, unknown>): UserSubject | null {
  if (id.format === 'opaque' && text(id.id)) return { format: 'opaque', id: id.id };
  if (id.format === 'iss_sub' && text(id.iss) && text(id.sub)) return { format: 'iss_sub', iss: id.iss, sub: id.sub };
  if (id.format === 'email' && text(id.email)) return { format: 'email', email: id.email };
  return null;
}

/**
 * The subject of an event: its own `subject` member (CAEP drafts before SSF 1.0), else the SET's
 * `sub_id` (SSF 1.0 §3). A simple identifier (with `format`) or a complex one (SSF 1.0 §3.2:
 * `user`, `device`, `session`, … members).
 */
function subjectOf(set: VerifiedSet, payload: Record<string, unknown>): Record<string, unknown> {
  const subject = payload.subject ?? set.subId;
  if (!isPlainObject(subject)) throw unsupported('the event names no subject (sub_id)');
  return subject;
}

function userSubject(subject: Record<string, unknown>): UserSubject {
  const simple = 'format' in subject ? subject : subject.user;
  const user = isPlainObject(simple) ? userOf(simple) : null;
  if (user === null) throw unsupported('the subject must be a user identifier of format opaque, iss_sub or email');
  return user;
}

function deviceSubject(subject: Record<string, unknown>): string {
  const device = subject.device;
  if (!isPlainObject(device) || device.format !== 'opaque' || !text(device.id, 256)) throw unsupported('a device event needs a device subject {format: "opaque", id}');
  return device.id;
}

/** When the event happened: CAEP `event_timestamp`, else SSF `toe`, else the SET's `iat` (seconds). */
function timeOf(set: VerifiedSet, payload: Record<string, unknown>, latestSec: number): number {
  const stamp = payload.event_timestamp;
  if (stamp !== undefined && !(typeof stamp === 'number' && Number.isFinite(stamp) && stamp >= 0)) throw invalid('event_timestamp must be a NumericDate');
  const at = (stamp as number | undefined) ?? set.toe ?? set.iat;
  if (at > latestSec) throw invalid('the event time is in the future');
  return at;
}

/**
 * The effects of `set`'s events. Event types other than the four CAEP ones Verity acts on are
 * listed in `ignored` (RFC 8935 §2.2: a receiver acknowledges a SET it does not act on; SSF 1.0
 * has receivers ignore events they did not ask for).
 *
 * @param latestSec - the latest event time accepted (now + clock skew), seconds.
 * @throws VerityError ERR_SSF_SET_INVALID (a known event of the wrong form),
 *   ERR_SSF_SUBJECT_UNSUPPORTED (a subject Verity cannot map).
 */
export function caepEffectsOf(set: VerifiedSet, latestSec: number): CaepEffects {
  const effects: CaepEffect[] = [];
  const ignored: string[] = [];
  for (const [type, payload] of Object.entries(set.events)) {
    if (type === SESSION_REVOKED || type === CREDENTIAL_CHANGE) {
      effects.push({ kind: 'revoke', event: type, subject: userSubject(subjectOf(set, payload)), atSec: timeOf(set, payload, latestSec) });
    } else if (type === DEVICE_COMPLIANCE_CHANGE) {
      const status = payload.current_status;
      if (status !== 'compliant' && status !== 'not-compliant') throw invalid('current_status must be "compliant" or "not-compliant"');
      effects.push({ kind: 'device', deviceId: deviceSubject(subjectOf(set, payload)), compliant: status === 'compliant', atSec: timeOf(set, payload, latestSec) });
    } else if (type === ASSURANCE_LEVEL_CHANGE) {
      if (!text(payload.current_level, 256)) throw invalid('current_level must be a non-empty string');
      effects.push({ kind: 'assurance', subject: userSubject(subjectOf(set, payload)), acr: payload.current_level, atSec: timeOf(set, payload, latestSec) });
    } else {
      ignored.push(type.slice(0, 256));
    }
  }
  return { effects, ignored };
}

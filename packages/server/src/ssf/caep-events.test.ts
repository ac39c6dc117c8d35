/** What the CAEP events of a verified SET ask for: subjects (simple and complex), times, refusals. */
import { describe, expect, it } from 'vitest';
import type { VerityError } from '@verity/core';
import { caepEffectsOf, DEVICE_COMPLIANCE_CHANGE, SESSION_REVOKED, ASSURANCE_LEVEL_CHANGE } from './caep-events.js';

const NOW = Date.UTC(2026, 11, 1, 12) / 1000;
const ISSUER = 'https://idp.example.com';

describe('caepEffectsOf', () => {
  const base = { transmitter: 'idp', issuer: ISSUER, jti: 'j', iat: NOW - 10, toe: null, subId: null };

  it('reads the four CAEP events, their subjects (simple and complex) and times, and lists the others as ignored', () => {
    const set = {
      ...base,
      subId: { user: { format: 'iss_sub', iss: ISSUER, sub: 'u-1' }, device: { format: 'opaque', id: 'laptop-1' } },
      events: {
        [SESSION_REVOKED]: { event_timestamp: NOW - 20 },
        [DEVICE_COMPLIANCE_CHANGE]: { current_status: 'not-compliant', previous_status: 'compliant' },
        [ASSURANCE_LEVEL_CHANGE]: { namespace: 'nist-aal', current_level: 'aal1', previous_level: 'aal2', change_direction: 'decrease', subject: { format: 'email', email: 'a@example.com' } },
        'https://schemas.openid.net/secevent/caep/event-type/token-claims-change': { claims: {} },
      },
    };
    expect(caepEffectsOf(set, NOW + 60)).toEqual({
      effects: [
        { kind: 'revoke', event: SESSION_REVOKED, subject: { format: 'iss_sub', iss: ISSUER, sub: 'u-1' }, atSec: NOW - 20 },
        { kind: 'device', deviceId: 'laptop-1', compliant: false, atSec: NOW - 10 },
        { kind: 'assurance', subject: { format: 'email', email: 'a@example.com' }, acr: 'aal1', atSec: NOW - 10 },
      ],
      ignored: ['https://schemas.openid.net/secevent/caep/event-type/token-claims-change'],
    });
  });

  it('refuses subjects it cannot map and known events of the wrong form', () => {
    const code = (events: Record<string, Record<string, unknown>>, subId: Record<string, unknown> | null) => {
      try {
        caepEffectsOf({ ...base, subId, events }, NOW + 60);
        return 'accepted';
      } catch (error) {
        return (error as VerityError).code;
      }
    };
    expect(code({ [SESSION_REVOKED]: {} }, null)).toBe('ERR_SSF_SUBJECT_UNSUPPORTED');
    expect(code({ [SESSION_REVOKED]: {} }, { format: 'phone_number', phone_number: '+1' })).toBe('ERR_SSF_SUBJECT_UNSUPPORTED');
    expect(code({ [DEVICE_COMPLIANCE_CHANGE]: { current_status: 'compliant' } }, { format: 'opaque', id: 'laptop-1' })).toBe('ERR_SSF_SUBJECT_UNSUPPORTED');
    expect(code({ [DEVICE_COMPLIANCE_CHANGE]: { current_status: 'broken' } }, { device: { format: 'opaque', id: 'laptop-1' } })).toBe('ERR_SSF_SET_INVALID');
    expect(code({ [ASSURANCE_LEVEL_CHANGE]: { namespace: 'nist-aal' } }, { format: 'opaque', id: 'alice' })).toBe('ERR_SSF_SET_INVALID');
    expect(code({ [SESSION_REVOKED]: { event_timestamp: NOW + 3600 } }, { format: 'opaque', id: 'alice' })).toBe('ERR_SSF_SET_INVALID');
    expect(code({ [SESSION_REVOKED]: {} }, { format: 'opaque', id: 'alice' })).toBe('accepted');
  });
});

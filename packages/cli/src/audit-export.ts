/**
 * A tenant's audit as a file: JSON Lines, one event a line exactly as the admin API answers it
 * (every field its hash covers, with its seq, prevHash and hash), oldest first from seq 1, so
 * the chain verifies offline (`verity audit verify --file`). Written by `verity tenant delete
 * --export-audit`, checked as it is written.
 */
import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { createAuditChainVerifier, GENESIS_HASH, isPlainObject, type AuditChainHead, type AuditEvent, type AuditProblem } from '@verity/core';
import type { VerityClient } from './client.js';
import { cliError } from './errors.js';

/** Events asked for per page (the admin API's largest). */
const PAGE = 1000;

/** An export being written: pages of the audit appended to a file and chained as they come. */
export interface AuditExporter {
  /** Append every event after the last one written, to the end of the audit now; the head reached. */
  catchUp(): Promise<AuditChainHead>;
  /** Events written so far. */
  readonly exported: number;
  /** What the chain check found in the events written (none: the file verifies). */
  readonly problems: readonly AuditProblem[];
}

/**
 * Export the audit at `tenantPath` (`/admin/v1/tenants/{t}`) into `file`, open for writing.
 * The caller syncs and closes the file.
 */
export function createAuditExporter(client: VerityClient, tenantPath: string, file: FileHandle): AuditExporter {
  const verifier = createAuditChainVerifier();
  let head: AuditChainHead = { seq: 0, hash: GENESIS_HASH };
  return {
    async catchUp() {
      for (;;) {
        const page = await client.request<{ events: AuditEvent[]; next: number | null }>('GET', `${tenantPath}/audit`, { query: { after: String(head.seq), limit: String(PAGE) } });
        if (page.events.length === 0) return head;
        await file.write(page.events.map((event) => `${JSON.stringify(event)}\n`).join(''));
        verifier.push(page.events);
        const last = page.events.at(-1) as AuditEvent;
        head = { seq: last.seq, hash: last.hash };
        if (page.next === null) return head;
      }
    },
    get exported() {
      return verifier.checked;
    },
    get problems() {
      return verifier.problems;
    },
  };
}

/** What an export file holds, checked: its tenant, events, the head it reaches and the chain's problems. */
export interface CheckedAuditExport {
  /** The events' tenant (null for an empty file). */
  tenant: string | null;
  checked: number;
  head: AuditChainHead;
  problems: AuditProblem[];
  /** The event at `seq`, when asked for (a checkpoint's), or undefined when the file has none. */
  at?: AuditEvent;
}

const isEvent = (value: unknown): value is AuditEvent => isPlainObject(value) && Number.isSafeInteger(value.seq) && typeof value.hash === 'string' && typeof value.prevHash === 'string' && typeof value.tenant === 'string';

/**
 * Read and verify an export file line by line (it may be larger than memory): every event's
 * hash and link from the genesis, and one tenant throughout. ERR_CLI_AUDIT_FILE for a line that
 * is not an event or an event of another tenant.
 */
export async function checkAuditExport(path: string, name: string, keepSeq?: number): Promise<CheckedAuditExport> {
  const verifier = createAuditChainVerifier();
  const result: CheckedAuditExport = { tenant: null, checked: 0, head: { seq: 0, hash: GENESIS_HASH }, problems: [] };
  let line = 0;
  for await (const text of createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity })) {
    line++;
    if (text.trim() === '') continue;
    let event: unknown;
    try {
      event = JSON.parse(text);
    } catch {
      event = undefined;
    }
    if (!isEvent(event)) throw cliError('ERR_CLI_AUDIT_FILE', `${name}: line ${line} is not an audit event (written by verity tenant delete --export-audit)`);
    result.tenant ??= event.tenant;
    if (event.tenant !== result.tenant) throw cliError('ERR_CLI_AUDIT_FILE', `${name}: line ${line} is an event of tenant "${event.tenant}", not "${result.tenant}"`);
    verifier.push([event]);
    result.head = { seq: event.seq, hash: event.hash };
    if (event.seq === keepSeq) result.at = event;
  }
  return { ...result, checked: verifier.checked, problems: [...verifier.problems] };
}

/**
 * Checks "an answered decision is an audited decision" from the outside: the decision ids a
 * client got in 200 answers against the tenant's audit read API, and the hash chain's verify.
 */
import { eventually } from './eventually.js';
import { ADMIN_TOKEN } from './verity.js';

/** Which server to read from: its base URL now (a restarted replica has a new one). */
export interface AuditSource {
  readonly url: string;
}

/** What `GET /admin/v1/tenants/{t}/audit/verify` answered. */
export interface VerifyResult {
  ok: boolean;
  checked: number;
  problems: Array<{ seq: number; kind: string }>;
  /** How long the verify took, as the client saw it (ms; set by the fault experiments). */
  ms?: number;
}

const PAGE = 1000;
/** Client bound on one verify (ms): about 10,000 records a second on a loaded 2-core box, with room. */
const VERIFY_TIMEOUT_MS = 300_000;

async function getJson<T>(url: string, timeoutMs: number): Promise<T> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, signal: AbortSignal.timeout(timeoutMs) });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET ${new URL(url).pathname}: HTTP ${response.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/**
 * Reads a tenant's audit decision ids, page by page from a cursor kept between calls (the
 * chain only grows at its end, so each call reads only what was appended since).
 */
export interface AuditReader {
  /** Every decision id read so far, after reading what was appended since the last call. */
  readIds(): Promise<ReadonlySet<string>>;
  verify(): Promise<VerifyResult>;
  /**
   * The ids of `answered` not in the audit, after retrying for at most `withinMs` (records
   * written by a flush that is still running count; records that never come do not).
   */
  unaudited(answered: Iterable<string>, withinMs?: number): Promise<string[]>;
}

export function createAuditReader(source: AuditSource, tenant: string, requestTimeoutMs = 30_000): AuditReader {
  const ids = new Set<string>();
  let after = 0;
  const reader: AuditReader = {
    async readIds() {
      for (;;) {
        const page = await getJson<{ events: Array<{ seq: number; decisionId: string }>; next: number | null }>(
          `${source.url}/admin/v1/tenants/${encodeURIComponent(tenant)}/audit?after=${after}&limit=${PAGE}`,
          requestTimeoutMs,
        );
        for (const event of page.events) {
          ids.add(event.decisionId);
          after = Math.max(after, event.seq);
        }
        if (page.next === null || page.events.length === 0) return ids;
      }
    },
    // A verify walks the whole chain: chaos runs leave hundreds of thousands of records.
    verify: () => getJson<VerifyResult>(`${source.url}/admin/v1/tenants/${encodeURIComponent(tenant)}/audit/verify`, Math.max(requestTimeoutMs, VERIFY_TIMEOUT_MS)),
    async unaudited(answered, withinMs = 5000) {
      const wanted = [...new Set(answered)];
      let missing: string[] = wanted;
      let readFailure: unknown = null;
      try {
        await eventually(
          async () => {
            readFailure = null;
            const seen = await reader.readIds().catch((error: unknown) => {
              readFailure = error;
              throw error;
            });
            missing = wanted.filter((id) => !seen.has(id));
            if (missing.length > 0) throw new Error(`${missing.length} answered decisions not in the audit`);
          },
          withinMs,
          250,
        );
      } catch (error) {
        // Missing ids are the result (the caller asserts on them); an audit that cannot be read is not.
        if (readFailure !== null) throw error;
      }
      return missing;
    },
  };
  return reader;
}

/**
 * Job-scoped credentials for a batch or fan-out job (issue 12): exchange for exactly the job's
 * audiences and scopes, tagged with a job id, run the job, and revoke the whole job at the end —
 * on success and on failure — so none of its tokens outlives the work they were for.
 */
import { randomUUID } from 'node:crypto';
import { EnforceError } from './errors.js';
import type { TokenExchanger } from './token-exchanger.js';

// The server's job id rule (identity's isJobId), checked here so a bad id fails before any exchange.
const JOB_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** One token the job needs: for this audience, with exactly these space-separated scopes (default: all the exchange may grant). */
export interface JobGrant {
  audience: string;
  scope?: string;
}

/** Where and with what the job is revoked: the admin API's `POST /admin/v1/tenants/{tenant}/jobs/{id}/revoke`. */
export interface JobRevokeOptions {
  /** The PDP's base URL. */
  url: string;
  tenant: string;
  /**
   * An admin credential allowed `policy.write` on the tenant (a `policy-author` of it), sent as
   * `Authorization: Bearer`. It is never put into an error or a message.
   */
  credential: string;
  fetch?: typeof globalThis.fetch;
  /** Budget of the revocation request in ms (default 5000). */
  timeoutMs?: number;
}

export interface RunJobOptions {
  /** This service's exchanger (its client registration at the tenant's token service). */
  exchanger: TokenExchanger;
  /** The token the job acts for (the caller's, or the service's own client-credentials token). */
  subjectToken: string;
  /** The job id (default a random UUID); 1-128 of `[A-Za-z0-9._:-]`. */
  jobId?: string;
  /** The job's tokens, one per audience; at least one. */
  grants: readonly JobGrant[];
  revoke: JobRevokeOptions;
  /**
   * Told when the revocation failed after the job itself failed (the job's error is what
   * `runJob` rejects with). Default: a process warning with the error's code.
   */
  onRevokeError?: (error: EnforceError) => void;
}

/** What the job function gets: its id and its tokens by audience. */
export interface JobCredentials {
  jobId: string;
  /** The job's token for `audience`; throws TypeError for an audience the job did not ask for. */
  token(audience: string): string;
}

/**
 * Run `work` with job-scoped tokens and revoke the job when it settles. Resolves to what `work`
 * resolves to; rejects with `work`'s own error when it fails (a revocation failure then goes to
 * `onRevokeError`), with the exchange's `TokenExchangeError` when a token could not be had (the
 * job is revoked all the same), or with `ERR_ENFORCE_JOB_REVOKE_FAILED` when `work` succeeded but
 * the revocation was not confirmed.
 *
 * @example
 * ```ts
 * const exchanger = createTokenExchanger({ url, tenant: 'acme', clientId: 'nightly', clientSecret: process.env.NIGHTLY_SECRET! });
 * await runJob(
 *   { exchanger, subjectToken, grants: [{ audience: 'orders', scope: 'orders:read' }, { audience: 'billing', scope: 'invoices:write' }],
 *     revoke: { url, tenant: 'acme', credential: process.env.VERITY_JOB_ADMIN_TOKEN! } },
 *   async (job) => exportOrders(job.token('orders'), job.token('billing')),
 * );
 * ```
 */
export async function runJob<T>(options: RunJobOptions, work: (credentials: JobCredentials) => Promise<T>): Promise<T> {
  const jobId = options.jobId ?? randomUUID();
  if (!JOB_ID.test(jobId)) throw new EnforceError('ERR_ENFORCE_JOB_INVALID', 'job ids are 1-128 letters, digits, ".", "_", ":" or "-"');
  if (options.grants.length === 0) throw new TypeError('runJob: grants must name at least one audience');
  let result: T;
  try {
    const tokens = new Map<string, string>();
    for (const grant of options.grants) tokens.set(grant.audience, await options.exchanger.exchange(options.subjectToken, grant.audience, grant.scope, { jobId }));
    result = await work({
      jobId,
      token(audience) {
        const token = tokens.get(audience);
        if (token === undefined) throw new TypeError(`runJob: the job has no token for audience "${audience.slice(0, 128)}"`);
        return token;
      },
    });
  } catch (error) {
    await revokeJob(jobId, options.revoke).catch((revokeError: EnforceError) => (options.onRevokeError ?? warn)(revokeError));
    throw error;
  }
  await revokeJob(jobId, options.revoke);
  return result;
}

/**
 * Revoke every token of `jobId` issued until now, through the admin API. Resolves once the PDP
 * has stored the revocation (it then reaches every replica and PEP through the change feed);
 * rejects with `ERR_ENFORCE_JOB_REVOKE_FAILED` (the PDP's code in `pdpCode`, when it answered).
 *
 * @example
 * ```ts
 * await revokeJob('nightly-export:2026-12-01', { url, tenant: 'acme', credential: process.env.VERITY_JOB_ADMIN_TOKEN! });
 * ```
 */
export async function revokeJob(jobId: string, options: JobRevokeOptions): Promise<void> {
  if (!JOB_ID.test(jobId)) throw new EnforceError('ERR_ENFORCE_JOB_INVALID', 'job ids are 1-128 letters, digits, ".", "_", ":" or "-"');
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const endpoint = `${options.url.replace(/\/$/, '')}/admin/v1/tenants/${encodeURIComponent(options.tenant)}/jobs/${encodeURIComponent(jobId)}/revoke`;
  let response: Response;
  try {
    // Never follow a redirect: the request carries an admin credential.
    response = await fetchImpl(endpoint, { method: 'POST', headers: { authorization: `Bearer ${options.credential}` }, redirect: 'manual', signal: AbortSignal.timeout(options.timeoutMs ?? 5000) });
  } catch (error) {
    throw new EnforceError('ERR_ENFORCE_JOB_REVOKE_FAILED', 'the job could not be revoked: the PDP did not answer', { cause: error });
  }
  if (response.status === 201) return;
  const body = (await response.json().catch(() => ({}))) as { code?: unknown };
  const pdpCode = typeof body.code === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(body.code) ? body.code : undefined;
  throw new EnforceError('ERR_ENFORCE_JOB_REVOKE_FAILED', `the job could not be revoked (${response.status}${pdpCode === undefined ? '' : ` ${pdpCode}`})`, { pdpStatus: response.status, ...(pdpCode === undefined ? {} : { pdpCode }) });
}

function warn(error: EnforceError): void {
  process.emitWarning(error.message, { code: error.code });
}

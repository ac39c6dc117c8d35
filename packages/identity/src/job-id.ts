/** Job ids: the tag a token exchange puts on a job's tokens (`job` claim) so that one revocation ends them all. */

/** The claim naming the job a token was exchanged for; only the tenant's own token service sets it. */
export const JOB_CLAIM = 'job';

/** The token-exchange extension parameter (RFC 8693 §2.1 allows others) asking for a job's token. */
export const JOB_ID_PARAM = 'job_id';

// 1-128 characters: letters, digits, ".", "_", ":" and "-" (a batch id, a run id, a UUID).
const JOB_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Whether `value` is a well-formed job id: a string of 1-128 characters from `[A-Za-z0-9._:-]`.
 *
 * @example
 * isJobId('nightly-export:2026-12-01'); // true
 */
export function isJobId(value: unknown): value is string {
  return typeof value === 'string' && JOB_ID.test(value);
}

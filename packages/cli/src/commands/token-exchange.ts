/** `verity token exchange --tenant T --audience A`: trade a subject token for one for another audience (RFC 8693). */
import type { Command } from '../command.js';
import { remoteOptions, tenantOption, tenantSegment } from '../client.js';
import { EXIT, usageError } from '../errors.js';
import { JOB_ID } from './job-revoke.js';
import { clientAuthorization, clientCredentialDetails, postAsClient, readToken, writeTokenResponse, type TokenResponse } from '../token-service.js';

/** RFC 8693 §2.1 and §3. */
const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

export const tokenExchange: Command = {
  name: 'token exchange',
  summary: 'Exchange a subject token for a token for another audience (RFC 8693); prints only the token',
  usage: '--tenant T --audience A --subject-token-file FILE|- [--scope S] [--job-id JOB_ID]',
  arguments: [],
  options: {
    ...tenantOption,
    audience: { type: 'string', valueName: 'A', description: 'the audience the new token is for (required)' },
    scope: { type: 'string', valueName: 'S', description: "scopes to ask for, space-separated; at most the subject token's" },
    'job-id': { type: 'string', valueName: 'JOB_ID', description: "tag the token with this job (job_id); 'verity job revoke JOB_ID' ends all its tokens" },
    'subject-token-file': { type: 'string', valueName: 'FILE', description: "file holding the subject's access token; '-' reads standard input (required)" },
    ...remoteOptions,
  },
  details: [
    'POSTs the token-exchange grant to /tenants/T/oauth2/token with the subject token as an access',
    'token. The token is read from a file or stdin, never from a flag (it would land in shell',
    "history and `ps`). Output as for 'token issue': only the new token on stdout, or --json.",
    clientCredentialDetails,
  ].join('\n'),
  async run(args, io) {
    tenantSegment(args);
    const audience = args.values['audience'];
    if (typeof audience !== 'string' || audience === '') throw usageError('--audience is required');
    const file = args.values['subject-token-file'];
    if (typeof file !== 'string' || file === '') throw usageError("--subject-token-file is required (a file, or '-' for standard input)");
    const jobId = args.values['job-id'];
    if (jobId !== undefined && (typeof jobId !== 'string' || !JOB_ID.test(jobId))) throw usageError('--job-id must be a job id: 1-128 letters, digits, ".", "_", ":" or "-"');
    clientAuthorization(io); // fail on missing credentials before waiting on stdin
    const subjectToken = await readToken(file, io);
    const answer = await postAsClient<TokenResponse>(args, io, 'token', {
      grant_type: TOKEN_EXCHANGE_GRANT,
      subject_token: subjectToken,
      subject_token_type: ACCESS_TOKEN_TYPE,
      audience,
      scope: args.values['scope'] as string | undefined,
      job_id: jobId,
    });
    writeTokenResponse(args, io, answer);
    return EXIT.OK;
  },
};

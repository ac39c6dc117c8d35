/** `verity token revoke --tenant T`: revoke one token (RFC 7009), or everything a subject, client or job holds. */
import type { Command } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption } from '../client.js';
import { EXIT, usageError } from '../errors.js';
import { writeLines, writeResult } from '../output.js';
import { JOB_ID } from './job-revoke.js';
import { clientAuthorization, clientCredentialDetails, postAsClient, readToken } from '../token-service.js';

export const tokenRevoke: Command = {
  name: 'token revoke',
  summary: "Revoke a token, or every token a subject, client or job was issued until now",
  usage: '--tenant T (--token-file FILE|- | --subject SUB | --client CLIENT_ID | --job JOB_ID)',
  arguments: [],
  options: {
    ...tenantOption,
    'token-file': { type: 'string', valueName: 'FILE', description: "file holding the token to revoke; '-' reads standard input" },
    subject: { type: 'string', valueName: 'SUB', description: 'revoke every token of this subject (`sub`) issued before now' },
    client: { type: 'string', valueName: 'CLIENT_ID', description: 'revoke every token issued to this client before now' },
    job: { type: 'string', valueName: 'JOB_ID', description: 'revoke every token of this job (exchanged with job_id) issued before now' },
    ...remoteOptions,
  },
  details: [
    'Give exactly one of --token-file, --subject, --client, --job.',
    '--token-file POSTs the token to /tenants/T/oauth2/revoke (RFC 7009). The server answers the',
    'same whether or not it knew the token, so success means "not usable any more".',
    clientCredentialDetails,
    '--subject, --client and --job POST to /admin/v1/tenants/T/revocations.',
    remoteDetails,
  ].join('\n'),
  async run(args, io) {
    const given = (['token-file', 'subject', 'client', 'job'] as const).filter((flag) => typeof args.values[flag] === 'string');
    const flag = given[0];
    if (given.length !== 1 || flag === undefined) throw usageError('give exactly one of --token-file, --subject, --client, --job');
    const value = args.values[flag] as string;
    if (value === '') throw usageError(`--${flag} must not be empty`);
    if (flag === 'job' && !JOB_ID.test(value)) throw usageError('--job must be a job id: 1-128 letters, digits, ".", "_", ":" or "-"');
    const path = adminTenantPath(args);
    if (flag === 'token-file') {
      clientAuthorization(io); // fail on missing credentials before waiting on stdin
      const token = await readToken(value, io);
      const answer = await postAsClient<object>(args, io, 'revoke', { token });
      writeResult(args, io, answer, () => writeLines(io.stdout, 'token revoked (or it was not valid anyway)'));
      return EXIT.OK;
    }
    const body = flag === 'subject' ? { subject: value } : flag === 'client' ? { client: value } : { job: value };
    const answer = await clientFromArgs(args, io).request<object>('POST', `${path}/revocations`, { body });
    writeResult(args, io, answer, () => writeLines(io.stdout, `revoked every token of ${flag} ${value} issued until now`));
    return EXIT.OK;
  },
};

/** `verity token revoke --tenant T`: revoke one token (RFC 7009), or everything a subject or client holds. */
import type { Command } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption } from '../client.js';
import { EXIT, usageError } from '../errors.js';
import { writeLines, writeResult } from '../output.js';
import { clientAuthorization, clientCredentialDetails, postAsClient, readToken } from '../token-service.js';

export const tokenRevoke: Command = {
  name: 'token revoke',
  summary: "Revoke a token, or every token a subject or client was issued until now",
  usage: '--tenant T (--token-file FILE|- | --subject SUB | --client CLIENT_ID)',
  arguments: [],
  options: {
    ...tenantOption,
    'token-file': { type: 'string', valueName: 'FILE', description: "file holding the token to revoke; '-' reads standard input" },
    subject: { type: 'string', valueName: 'SUB', description: 'revoke every token of this subject (`sub`) issued before now' },
    client: { type: 'string', valueName: 'CLIENT_ID', description: 'revoke every token issued to this client before now' },
    ...remoteOptions,
  },
  details: [
    'Give exactly one of --token-file, --subject, --client.',
    '--token-file POSTs the token to /tenants/T/oauth2/revoke (RFC 7009). The server answers the',
    'same whether or not it knew the token, so success means "not usable any more".',
    clientCredentialDetails,
    '--subject and --client POST to /admin/v1/tenants/T/revocations.',
    remoteDetails,
  ].join('\n'),
  async run(args, io) {
    const given = (['token-file', 'subject', 'client'] as const).filter((flag) => typeof args.values[flag] === 'string');
    const flag = given[0];
    if (given.length !== 1 || flag === undefined) throw usageError('give exactly one of --token-file, --subject, --client');
    const value = args.values[flag] as string;
    if (value === '') throw usageError(`--${flag} must not be empty`);
    const path = adminTenantPath(args);
    if (flag === 'token-file') {
      clientAuthorization(io); // fail on missing credentials before waiting on stdin
      const token = await readToken(value, io);
      const answer = await postAsClient<object>(args, io, 'revoke', { token });
      writeResult(args, io, answer, () => writeLines(io.stdout, 'token revoked (or it was not valid anyway)'));
      return EXIT.OK;
    }
    const body = flag === 'subject' ? { subject: value } : { client: value };
    const answer = await clientFromArgs(args, io).request<object>('POST', `${path}/revocations`, { body });
    writeResult(args, io, answer, () => writeLines(io.stdout, `revoked every token of ${flag} ${value} issued until now`));
    return EXIT.OK;
  },
};

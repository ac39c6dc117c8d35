/** `verity token issue --tenant T`: a client_credentials token from the tenant's token service. */
import type { Command } from '../command.js';
import { remoteOptions, tenantOption } from '../client.js';
import { EXIT } from '../errors.js';
import { clientCredentialDetails, postAsClient, writeTokenResponse, type TokenResponse } from '../token-service.js';

export const tokenIssue: Command = {
  name: 'token issue',
  summary: "Get an access token for the client itself (client_credentials); prints only the token",
  usage: '--tenant T [--scope S] [--audience A]',
  arguments: [],
  options: {
    ...tenantOption,
    scope: { type: 'string', valueName: 'S', description: "scopes to ask for, space-separated ('a b')" },
    audience: { type: 'string', valueName: 'A', description: 'the audience the token is for' },
    ...remoteOptions,
  },
  details: [
    'POSTs grant_type=client_credentials to /tenants/T/oauth2/token. The access token is the only',
    'thing on stdout (e.g. TOKEN=$(verity token issue -t acme)); its type, lifetime and scope go to',
    'stderr. With --json, stdout is the whole token response.',
    clientCredentialDetails,
  ].join('\n'),
  async run(args, io) {
    const answer = await postAsClient<TokenResponse>(args, io, 'token', {
      grant_type: 'client_credentials',
      scope: args.values['scope'] as string | undefined,
      audience: args.values['audience'] as string | undefined,
    });
    writeTokenResponse(args, io, answer);
    return EXIT.OK;
  },
};

/** `verity workload join-token --tenant T ID [--ttl S]`: a one-time join token, printed alone for scripts. */
import { parsePositiveInt } from '../arguments.js';
import type { Command } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption } from '../client.js';
import { cliError, EXIT } from '../errors.js';
import { writeJson, writeLines, wantsJson } from '../output.js';

export const workloadJoinToken: Command = {
  name: 'workload join-token',
  summary: 'Create a one-time join token for a workload and print it (only it)',
  usage: '--tenant T ID [--ttl S]',
  arguments: ['ID'],
  options: {
    ...tenantOption,
    ttl: { type: 'string', valueName: 'S', description: 'lifetime in seconds (default 300, at most 3600)' },
    ...remoteOptions,
  },
  details: [
    'Prints the token alone on stdout (--json: {join_token, expires_at}), e.g.',
    '  TOKEN=$(verity workload join-token --tenant acme wl_123)',
    'It works once, for the workload ID, until it expires; the server keeps only its SHA-256.',
    'Exits 6 when the tenant has no such workload.',
    remoteDetails,
  ].join('\n'),
  async run(args, io) {
    const id = args.positionals[0] ?? '';
    const ttl = args.values['ttl'];
    const body = typeof ttl === 'string' ? { ttl_sec: parsePositiveInt(ttl, '--ttl') } : {};
    const answer = await clientFromArgs(args, io).request<{ join_token?: unknown; expires_at?: unknown }>('POST', `${adminTenantPath(args)}/workloads/${encodeURIComponent(id)}/join-tokens`, { body });
    if (typeof answer.join_token !== 'string' || answer.join_token === '') throw cliError('ERR_CLI_BAD_ANSWER', 'the server answered without a join token');
    if (wantsJson(args)) writeJson(io.stdout, answer);
    else writeLines(io.stdout, answer.join_token);
    return EXIT.OK;
  },
};

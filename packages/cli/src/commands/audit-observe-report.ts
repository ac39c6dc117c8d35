/** `verity audit observe-report --tenant T [--since 24h]`: what observe mode would have denied, by route. */
import type { ObservedDenials } from '@verity/server';
import { parsePositiveInt } from '../arguments.js';
import type { Command } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption } from '../client.js';
import { EXIT } from '../errors.js';
import { writeLines, writeResult, writeTable } from '../output.js';

export const auditObserveReport: Command = {
  name: 'audit observe-report',
  summary: 'What PEPs in observe mode would have denied, by tier, action and route',
  usage: '--tenant T [--since 24h|ISO-TIME] [--limit N]',
  arguments: [],
  options: {
    ...tenantOption,
    since: { type: 'string', valueName: 'WHEN', description: 'a duration back from now (90s, 30m, 24h, 7d) or an ISO-8601 time (default 24h)' },
    limit: { type: 'string', short: 'n', valueName: 'N', description: 'at most this many groups, largest first (default 100, at most 1000)' },
    ...remoteOptions,
  },
  details: [
    'Reads the denies PEPs recorded in observe mode (recorded, not enforced: the SDK with',
    'observe: true, a gateway with X-Verity-Observe) and groups them by tier, action and',
    'resource (a gateway route template), with how many, how many principals (and up to 10 of',
    'them) and the policies that determined them (none: no permit applied). Switch a route',
    'to enforce once its row is empty or explained. Exit 0.',
    remoteDetails,
  ].join('\n'),
  async run(args, io) {
    const since = (args.values['since'] as string | undefined) ?? '24h';
    const limit = parsePositiveInt((args.values['limit'] as string | undefined) ?? '100', '--limit');
    const answer = await clientFromArgs(args, io).request<{ since: string; groups: ObservedDenials[] }>('GET', `${adminTenantPath(args)}/audit/observe-report`, { query: { since, limit: String(limit) } });
    writeResult(args, io, answer, () => {
      writeLines(io.stdout, `observed denies since ${answer.since}:`);
      writeTable(
        io.stdout,
        answer.groups,
        [
          { header: 'DENIED', cell: (g) => String(g.denied) },
          { header: 'TIER', cell: (g) => g.tier ?? '-' },
          { header: 'ACTION', cell: (g) => g.action },
          { header: 'RESOURCE', cell: (g) => g.resource },
          { header: 'PRINCIPALS', cell: (g) => `${g.principals} (${g.samplePrincipals.slice(0, 3).join(', ')}${g.principals > 3 ? ', …' : ''})` },
          { header: 'POLICIES', cell: (g) => (g.policies.length > 0 ? g.policies.join(', ') : '(no permit applied)') },
          { header: 'LAST', cell: (g) => g.lastSeen },
        ],
        'nothing observe mode would have denied',
      );
    });
    return EXIT.OK;
  },
};

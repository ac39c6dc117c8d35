/** `verity workload remove --tenant T ID`: deregister a workload; its SVIDs are refused at once. */
import type { Command } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption } from '../client.js';
import { EXIT } from '../errors.js';
import { writeLines, writeResult } from '../output.js';

export const workloadRemove: Command = {
  name: 'workload remove',
  summary: 'Deregister a workload (its SPIFFE id is refused until its last SVID expires)',
  usage: '--tenant T ID',
  arguments: ['ID'],
  options: { ...tenantOption, ...remoteOptions },
  details: [
    'ID is the workload id `verity workload list` shows. The SPIFFE id goes on the deny list, which',
    'PEPs and the PDP apply at once, until every SVID issued to it has expired.',
    'Exits 6 when the tenant has no such workload.',
    remoteDetails,
  ].join('\n'),
  async run(args, io) {
    const id = args.positionals[0] ?? '';
    const answer = await clientFromArgs(args, io).request<{ removed: boolean; denied_until?: string }>('DELETE', `${adminTenantPath(args)}/workloads/${encodeURIComponent(id)}`);
    writeResult(args, io, answer, () => writeLines(io.stdout, `removed workload ${id}${answer.denied_until ? `; its SPIFFE id is refused until ${answer.denied_until}` : ''}`));
    return EXIT.OK;
  },
};

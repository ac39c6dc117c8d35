/** `verity identity-source remove --tenant T ID`: stop trusting a token issuer. */
import type { Command } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption } from '../client.js';
import { EXIT } from '../errors.js';
import { writeLines, writeResult } from '../output.js';

export const identitySourceRemove: Command = {
  name: 'identity-source remove',
  summary: 'Remove an identity source (its tokens are refused from then on)',
  usage: '--tenant T ID',
  arguments: ['ID'],
  options: { ...tenantOption, ...remoteOptions },
  details: `Exits 6 when the tenant has no such source.\n${remoteDetails}`,
  async run(args, io) {
    const id = args.positionals[0] ?? '';
    await clientFromArgs(args, io).request('DELETE', `${adminTenantPath(args)}/identity-sources/${encodeURIComponent(id)}`);
    writeResult(args, io, { removed: id }, () => writeLines(io.stdout, `removed identity source ${id}`));
    return EXIT.OK;
  },
};

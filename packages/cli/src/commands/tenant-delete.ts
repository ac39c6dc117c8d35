/** `verity tenant delete ID --yes`: delete a tenant and everything of it but its audit. */
import type { Command } from '../command.js';
import { clientFromArgs, remoteDetails, remoteOptions } from '../client.js';
import { EXIT, usageError } from '../errors.js';
import { writeLines, writeResult } from '../output.js';

export const tenantDelete: Command = {
  name: 'tenant delete',
  summary: 'Delete a tenant (its audit is kept)',
  usage: 'ID --yes',
  arguments: ['ID'],
  options: {
    yes: { type: 'boolean', description: 'confirm: the tenant cannot be restored' },
    ...remoteOptions,
  },
  details: [
    'Deletes the tenant\'s policy store and every version, its entities, settings, identity',
    'sources, clients, signing and bundle keys, credentials, workloads and their CA, devices,',
    'threat lists and activity, in one transaction, and drops every replica\'s and PEP\'s view',
    'of it. Its audit is kept: a platform admin still reads and verifies it (`verity audit',
    'tail/verify`). The id is never used again. Platform admins only.',
    remoteDetails,
  ].join('\n'),
  async run(args, io) {
    const id = args.positionals[0] ?? '';
    if (args.values['yes'] !== true) throw usageError(`deleting tenant "${id}" cannot be undone: add --yes`);
    const answer = await clientFromArgs(args, io).request<{ id: string }>('DELETE', `/admin/v1/tenants/${encodeURIComponent(id)}`);
    writeResult(args, io, answer, () => writeLines(io.stdout, `deleted tenant ${answer.id}; its audit is kept`));
    return EXIT.OK;
  },
};

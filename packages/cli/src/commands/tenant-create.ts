/** `verity tenant create ID`: create a tenant on the server. */
import type { Tenant } from '@verity/core';
import type { Command } from '../command.js';
import { clientFromArgs, remoteDetails, remoteOptions } from '../client.js';
import { EXIT } from '../errors.js';
import { writeLines, writeResult } from '../output.js';

export const tenantCreate: Command = {
  name: 'tenant create',
  summary: 'Create a tenant',
  usage: 'ID [--name NAME]',
  arguments: ['ID'],
  options: {
    name: { type: 'string', valueName: 'NAME', description: 'display name (default: the id)' },
    ...remoteOptions,
  },
  details: remoteDetails,
  async run(args, io) {
    const id = args.positionals[0] ?? '';
    const name = args.values['name'];
    const body = typeof name === 'string' ? { id, name } : { id };
    const tenant = await clientFromArgs(args, io).request<Tenant>('POST', '/admin/v1/tenants', { body });
    writeResult(args, io, tenant, () => writeLines(io.stdout, `created tenant ${tenant.id}`));
    return EXIT.OK;
  },
};

/** `verity tenant list`: list the tenants the credential may see. */
import type { Tenant } from '@verity/core';
import type { Command } from '../command.js';
import { clientFromArgs, remoteDetails, remoteOptions } from '../client.js';
import { EXIT } from '../errors.js';
import { show, writeResult, writeTable } from '../output.js';

export const tenantList: Command = {
  name: 'tenant list',
  summary: 'List tenants',
  usage: '',
  arguments: [],
  options: { ...remoteOptions },
  details: remoteDetails,
  async run(args, io) {
    const answer = await clientFromArgs(args, io).request<{ tenants: Tenant[] }>('GET', '/admin/v1/tenants');
    writeResult(args, io, answer, () =>
      writeTable(
        io.stdout,
        answer.tenants,
        [
          { header: 'ID', cell: (t) => t.id },
          { header: 'NAME', cell: (t) => show(t.name) },
          { header: 'ACTIVE VERSION', cell: (t) => show(t.activeVersion) },
          { header: 'CREATED', cell: (t) => show(t.createdAt) },
        ],
        'no tenants',
      ),
    );
    return EXIT.OK;
  },
};

/** `verity policy versions --tenant T`: list a tenant's policy-store versions. */
import type { PolicyVersionInfo } from '@verity/core';
import type { Command } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption } from '../client.js';
import { EXIT } from '../errors.js';
import { show, writeResult, writeTable } from '../output.js';

export const policyVersions: Command = {
  name: 'policy versions',
  summary: "List a tenant's policy-store versions",
  usage: '--tenant T',
  arguments: [],
  options: { ...tenantOption, ...remoteOptions },
  details: remoteDetails,
  async run(args, io) {
    const path = `${adminTenantPath(args)}/policies/versions`;
    const answer = await clientFromArgs(args, io).request<{ versions: PolicyVersionInfo[] }>('GET', path);
    writeResult(args, io, answer, () =>
      writeTable(
        io.stdout,
        answer.versions,
        [
          { header: 'VERSION', cell: (v) => `${v.version}${v.active ? ' *' : ''}` },
          { header: 'CREATED', cell: (v) => show(v.createdAt) },
          { header: 'BY', cell: (v) => show(v.createdBy) },
          { header: 'HASH', cell: (v) => show(v.hash?.slice(0, 12)) },
          { header: 'MESSAGE', cell: (v) => show(v.message) },
        ],
        'no versions',
      ),
    );
    return EXIT.OK;
  },
};

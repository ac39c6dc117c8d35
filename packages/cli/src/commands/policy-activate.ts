/** `verity policy activate --tenant T VERSION`: make a stored version the active one (also rollback). */
import type { PolicyVersionInfo } from '@verity/core';
import type { Command } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption } from '../client.js';
import { parsePositiveInt } from '../arguments.js';
import { EXIT } from '../errors.js';
import { writeLines, writeResult } from '../output.js';

export const policyActivate: Command = {
  name: 'policy activate',
  summary: 'Activate a stored policy version (roll forward or back)',
  usage: '--tenant T VERSION',
  arguments: ['VERSION'],
  options: { ...tenantOption, ...remoteOptions },
  details: remoteDetails,
  async run(args, io) {
    const version = parsePositiveInt(args.positionals[0] ?? '', 'VERSION');
    const path = `${adminTenantPath(args)}/policies/activate`;
    const info = await clientFromArgs(args, io).request<PolicyVersionInfo>('POST', path, { body: { version } });
    writeResult(args, io, info, () => writeLines(io.stdout, `activated version ${info.version}`));
    return EXIT.OK;
  },
};

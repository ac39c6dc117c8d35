/** `verity tenant rollback ID VERSION`: make an older settings version the tenant's settings again, as a new version. */
import type { Tenant } from '@verity/core';
import type { Command } from '../command.js';
import { clientFromArgs, remoteDetails, remoteOptions } from '../client.js';
import { parsePositiveInt } from '../arguments.js';
import { EXIT } from '../errors.js';
import { writeJson, writeLines, writeResult } from '../output.js';
import { settingsChangeOptions, settingsChangeRequest } from './tenant-update.js';

export const tenantRollback: Command = {
  name: 'tenant rollback',
  summary: "Restore an older version of a tenant's settings (as a new version)",
  usage: 'ID VERSION [-m MESSAGE] [--if-version N]',
  arguments: ['ID', 'VERSION'],
  options: { ...settingsChangeOptions, ...remoteOptions },
  details: [
    "The settings become exactly those of VERSION, stored as the next version (which names the one it",
    'restored): the history stays in order, nothing in it is rewritten. They are checked as any change',
    'is; every replica and PEP reloads them. Needs tenant.update: a platform-admin, or the tenant\'s',
    'policy-author.',
    remoteDetails,
  ].join('\n'),
  async run(args, io) {
    const [id = '', text = ''] = args.positionals;
    const version = parsePositiveInt(text, 'VERSION');
    const path = `/admin/v1/tenants/${encodeURIComponent(id)}/settings/rollback`;
    const tenant = await clientFromArgs(args, io).request<Tenant>('POST', path, settingsChangeRequest(args, { version }));
    writeResult(args, io, tenant, () => {
      writeLines(io.stdout, `restored the settings of version ${version} as version ${tenant.settingsVersion} of tenant ${tenant.id}:`);
      writeJson(io.stdout, tenant.settings);
    });
    return EXIT.OK;
  },
};

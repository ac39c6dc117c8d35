/** `verity tenant versions ID [--version N]`: a tenant's settings versions, or one version's settings. */
import type { TenantSettingsVersion, TenantSettingsVersionInfo } from '@verity/core';
import type { Command } from '../command.js';
import { clientFromArgs, remoteDetails, remoteOptions } from '../client.js';
import { parsePositiveInt } from '../arguments.js';
import { EXIT } from '../errors.js';
import { show, writeJson, writeLines, writeResult, writeTable } from '../output.js';

export const tenantVersions: Command = {
  name: 'tenant versions',
  summary: "List a tenant's settings versions (who changed what, when), or show one",
  usage: 'ID [--version N]',
  arguments: ['ID'],
  options: {
    version: { type: 'string', valueName: 'N', description: "print version N's settings (JSON) instead of the list" },
    ...remoteOptions,
  },
  details: [
    'Every settings change (creation is version 1, each `tenant update` and `tenant rollback` the',
    'next) is kept with the credential that made it and its message. `*` marks the current one.',
    'Needs tenant.read: a platform-admin, or the tenant\'s policy-author.',
    remoteDetails,
  ].join('\n'),
  async run(args, io) {
    const path = `/admin/v1/tenants/${encodeURIComponent(args.positionals[0] ?? '')}/settings/versions`;
    const client = clientFromArgs(args, io);
    const version = args.values['version'];
    if (typeof version === 'string') {
      const one = await client.request<TenantSettingsVersion>('GET', `${path}/${parsePositiveInt(version, '--version')}`);
      writeResult(args, io, one, () => {
        writeLines(io.stdout, `settings version ${one.version}${one.current ? ' (current)' : ''}, by ${one.createdBy} at ${one.createdAt}${one.message === '' ? '' : `: ${one.message}`}`);
        writeJson(io.stdout, one.settings);
      });
      return EXIT.OK;
    }
    const answer = await client.request<{ versions: TenantSettingsVersionInfo[] }>('GET', path);
    writeResult(args, io, answer, () =>
      writeTable(
        io.stdout,
        answer.versions,
        [
          { header: 'VERSION', cell: (v) => `${v.version}${v.current ? ' *' : ''}` },
          { header: 'CREATED', cell: (v) => show(v.createdAt) },
          { header: 'BY', cell: (v) => show(v.createdBy) },
          { header: 'MESSAGE', cell: (v) => (v.restoredFrom === null ? show(v.message) : `[rollback to ${v.restoredFrom}] ${v.message}`.trimEnd()) },
        ],
        'no versions',
      ),
    );
    return EXIT.OK;
  },
};

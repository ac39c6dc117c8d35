/** `verity tenant diff ID FROM TO`: the settings that changed between two settings versions. */
import type { SettingsDiff } from '@verity/server';
import type { Command } from '../command.js';
import { clientFromArgs, remoteDetails, remoteOptions } from '../client.js';
import { parsePositiveInt } from '../arguments.js';
import { EXIT } from '../errors.js';
import { writeLines, writeResult } from '../output.js';

const SIGN = { added: '+', removed: '-', changed: '~' } as const;

export const tenantDiff: Command = {
  name: 'tenant diff',
  summary: "Show which settings changed between two of a tenant's settings versions",
  usage: 'ID FROM TO',
  arguments: ['ID', 'FROM', 'TO'],
  options: { ...remoteOptions },
  details: [
    'One line per setting: `+ key: value` added, `- key: value` removed, `~ key: old -> new`',
    'changed; values as JSON, each setting whole (a setting is replaced whole). --json prints',
    '{from, to, changes: [{key, kind, before?, after?}]}.',
    remoteDetails,
  ].join('\n'),
  async run(args, io) {
    const [id = '', from = '', to = ''] = args.positionals;
    const query = { from: String(parsePositiveInt(from, 'FROM')), to: String(parsePositiveInt(to, 'TO')) };
    const diff = await clientFromArgs(args, io).request<SettingsDiff>('GET', `/admin/v1/tenants/${encodeURIComponent(id)}/settings/diff`, { query });
    writeResult(args, io, diff, () => {
      const json = (value: unknown) => JSON.stringify(value);
      const lines = diff.changes.map((c) => `${SIGN[c.kind]} ${c.key}: ${c.kind === 'changed' ? `${json(c.before)} -> ${json(c.after)}` : json(c.kind === 'added' ? c.after : c.before)}`);
      writeLines(io.stdout, ...(lines.length === 0 ? [`no settings differ between versions ${diff.from} and ${diff.to}`] : lines));
    });
    return EXIT.OK;
  },
};

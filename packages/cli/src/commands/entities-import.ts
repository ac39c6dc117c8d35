/** `verity entities import --tenant T FILE|DIR`: bulk-load Cedar JSON entities into a tenant. */
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Entity } from '@verity/core';
import type { Command } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption } from '../client.js';
import { EXIT, withSources } from '../errors.js';
import { writeLines, writeResult } from '../output.js';
import { parseEntitiesJson, readPolicyFolder } from '../policy-folder.js';

async function readEntities(cwd: string, given: string): Promise<Entity[]> {
  const path = resolve(cwd, given);
  if ((await stat(path)).isDirectory()) return (await readPolicyFolder(path)).entities;
  return parseEntitiesJson(await readFile(path, 'utf8'), given);
}

export const entitiesImport: Command = {
  name: 'entities import',
  summary: 'Import Cedar JSON entities (a file, or a policy folder\'s entities.json)',
  usage: '--tenant T FILE|DIR [--replace]',
  arguments: ['FILE|DIR'],
  options: {
    ...tenantOption,
    replace: { type: 'boolean', description: "replace all of the tenant's entities instead of merging" },
    ...remoteOptions,
  },
  details: `FILE holds a JSON array of entities ({uid, attrs, parents}) or {"entities": [...]}.\n${remoteDetails}`,
  async run(args, io) {
    const path = `${adminTenantPath(args)}/entities`;
    const entities = await withSources({}, () => readEntities(io.cwd, args.positionals[0] ?? ''));
    const mode = args.values['replace'] === true ? 'replace' : 'merge';
    const answer = await clientFromArgs(args, io).request<{ imported: number }>('PUT', path, { body: { entities, mode } });
    writeResult(args, io, answer, () => writeLines(io.stdout, `imported ${answer.imported} entities (${mode})`));
    return EXIT.OK;
  },
};

/** Loads a policy-store folder and builds its content with the local engine, for commands without a server. */
import { resolve } from 'node:path';
import { buildPolicyStoreContent } from '@verity/core';
import { sharedCedarEngine } from '@verity/core/cedar';
import type { Engine, PolicyStoreContent } from '@verity/core';
import type { CommandIo } from './command.js';
import { withSources } from './errors.js';
import { readPolicyFolder, type PolicyFolder } from './policy-folder.js';

export interface LocalStore {
  folder: PolicyFolder;
  engine: Engine;
  content: PolicyStoreContent;
}

/**
 * Reads `dir` (relative to the command's cwd) and builds its content. Parse and validation
 * errors become CliErrors (exit 3) whose diagnostics resolve to `file:line:col`.
 */
export async function loadLocalStore(dir: string, io: CommandIo): Promise<LocalStore> {
  const folder = await withSources({}, () => readPolicyFolder(resolve(io.cwd, dir)));
  const sources: Record<string, string> = { ...folder.files };
  if (folder.schema !== undefined) sources['schema.cedarschema'] = folder.schema;
  const engine = sharedCedarEngine();
  const content = await withSources(sources, () =>
    buildPolicyStoreContent(engine, {
      files: folder.files,
      ...(folder.schema === undefined ? {} : { schema: folder.schema }),
      validationMode: folder.validationMode,
      links: folder.links,
    }),
  );
  return { folder, engine, content };
}

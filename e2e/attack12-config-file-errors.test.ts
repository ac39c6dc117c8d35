/**
 * attack12: config files the checks let through. docs/configuration.md: "A bad file never starts a
 * server: verity exits 2 with the error code ERR_CLI_CONFIG_FILE … and a message naming the file".
 * - A YAML alias with no anchor (`masterKey: *nokey`) throws out of readConfigFile as a plain
 *   error: `verity serve` exits 4 ERR_CLI_INTERNAL, naming neither the file nor the key.
 * - A `masterKey` of the wrong form is not checked with the file: the server starts (the data
 *   folder is created and migrated) and then exits 4 ERR_CLI_INTERNAL.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../packages/cli/bin/verity.mjs', import.meta.url));
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'a12-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function serveWith(name: string, text: string) {
  const file = join(dir, name);
  await writeFile(file, text);
  await chmod(file, 0o600);
  const data = join(dir, `${name}.data`);
  const env = { ...process.env };
  delete env.VERITY_ADMIN_TOKEN;
  delete env.VERITY_MASTER_KEY;
  const run = spawnSync(process.execPath, [BIN, 'serve', '--json', '--config', file, '--port', '0', '--data', data], { env, encoding: 'utf8', timeout: 30_000 });
  const error = JSON.parse(run.stdout || '{}').error as { code?: string; message?: string } | undefined;
  return { status: run.status, code: error?.code, message: error?.message ?? '', dataCreated: existsSync(data) };
}

describe('verity serve --config: a bad file', () => {
  it('an alias without its anchor is ERR_CLI_CONFIG_FILE (exit 2) naming the file', async () => {
    const refused = await serveWith('alias.yaml', 'masterKey: *nokey\n');
    expect([refused.status, refused.code], refused.message).toEqual([2, 'ERR_CLI_CONFIG_FILE']);
    expect(refused.message).toContain('alias.yaml');
  }, 40_000);

  it('a masterKey of the wrong form is ERR_CLI_CONFIG_FILE (exit 2) before anything starts', async () => {
    const refused = await serveWith('key.yaml', 'masterKey: not-32-bytes\n');
    expect([refused.status, refused.code, refused.dataCreated], refused.message).toEqual([2, 'ERR_CLI_CONFIG_FILE', false]);
  }, 40_000);
});

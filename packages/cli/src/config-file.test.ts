/** Tests for the config file: parsing, the schema's refusals, and docs/configuration.md held to the settings table. */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '@verity/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_FILE_SCHEMA, readConfigFile } from './config-file.js';
import { CliError, EXIT } from './errors.js';
import { SERVE_SETTINGS, type ServeSetting } from './serve-settings.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-config-file-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, text: string, mode = 0o600): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  await chmod(path, mode);
  return path;
}

/** The settings of a file as plain values, by key. */
async function valuesOf(path: string): Promise<Record<string, unknown>> {
  const file = await readConfigFile(path, '/');
  return Object.fromEntries([...file.settings].map(([key, given]) => [key, given.value]));
}

/** The ERR_CLI_CONFIG_FILE message a file is refused with. */
async function refusal(name: string, text: string): Promise<string> {
  const error: unknown = await readConfigFile(await write(name, text), '/').then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CliError);
  expect(error).toMatchObject({ code: 'ERR_CLI_CONFIG_FILE', exitCode: EXIT.USAGE });
  return (error as CliError).message;
}

describe('readConfigFile', () => {
  it('reads YAML and JSON alike, each value with its type, and names where each came from', async () => {
    const yaml = await write('v.yaml', '# comment\nport: 0\nhost: "::"\ndemo: true\nworkers: auto\ngeoipDb: geo/city.mmdb\n');
    const json = await write('v.json', '{"port": 0, "host": "::", "demo": true, "workers": "auto", "geoipDb": "geo/city.mmdb"}');
    const expected = { port: 0, host: '::', demo: true, workers: 'auto', geoipDb: join(dir, 'geo/city.mmdb') };
    expect(await valuesOf(yaml)).toEqual(expected);
    expect(await valuesOf(json)).toEqual(expected);
    expect((await readConfigFile('v.yaml', dir)).settings.get('port')).toEqual({ value: 0, from: 'v.yaml: port' });
  });

  it('reads an empty file, or one of comments, as no settings', async () => {
    expect(await valuesOf(await write('empty.yaml', ''))).toEqual({});
    expect(await valuesOf(await write('comments.yaml', '# port: 8181\n'))).toEqual({});
  });

  it('refuses unknown keys, at the top and below, hinting at the key a flag name means', async () => {
    expect(await refusal('u1.yaml', 'data: /var/lib/verity\n')).toContain('u1.yaml: data: not a setting (did you mean dataDir?)');
    expect(await refusal('u2.yaml', 'max_staleness_ms: 10\n')).toContain('max_staleness_ms: not a setting (did you mean maxStalenessMs?)');
    expect(await refusal('u3.json', '{"port": 1, "tls": {"cert": "c.pem"}}')).toContain('tls: not a setting');
    expect(await refusal('u4.yaml', 'port:\n  value: 8181\n')).toContain('port: must be a whole number');
  });

  it.each([
    ['port: "8181"', 'port: must be a whole number'],
    ['port: -1', 'port: must be a whole number'],
    ['maxStalenessMs: 1.5', 'maxStalenessMs: must be a whole number'],
    ['trustProxy: yes', 'trustProxy: must be true or false'],
    ['host: 127', 'host: must be a non-empty string'],
    ['logLevel: ""', 'logLevel: must be a non-empty string'],
    ['dataDir: [a, b]', 'dataDir: must be a non-empty string (a path, relative to this file)'],
    ['workers: many', 'workers: must be a whole number or "auto"'],
    ['workers: 0', 'workers: must be a whole number or "auto"'],
  ])('refuses a value of the wrong type: %s', async (text, message) => {
    expect(await refusal('type.yaml', `${text}\n`)).toBe(`${join(dir, 'type.yaml')}: ${message}`);
  });

  it('reports every problem at once, never a value', async () => {
    const message = await refusal('many.yaml', 'port: x\nadminToken: 12345\nfoo: secret-looking\n');
    expect(message).toContain('port: must be a whole number');
    expect(message).toContain('adminToken: must be a non-empty string');
    expect(message).toContain('foo: not a setting');
    expect(message).not.toContain('12345');
    expect(message).not.toContain('secret-looking');
  });

  it('refuses what is not one mapping of settings: bad YAML, a duplicate key, a list, a missing file', async () => {
    expect(await refusal('bad.yaml', 'port: [8181\n')).toContain('not valid YAML or JSON');
    expect(await refusal('bad.json', '{"port": 8181')).toContain('not valid YAML or JSON');
    // A message with a line and column, and not the file's text (a value may be a secret).
    expect(await refusal('twice.json', '{"adminToken": "x1", "adminToken": "x2"}')).toMatch(/: not valid YAML or JSON: Map keys must be unique at line 1, column \d+$/);
    expect(await refusal('twice.yaml', 'port: 1\nport: 2\n')).toContain('not valid YAML or JSON');
    expect(await refusal('list.yaml', '- port: 1\n')).toContain('must be a mapping of settings');
    expect(await refusal('scalar.yaml', '8181\n')).toContain('must be a mapping of settings');
    const missing = await readConfigFile(join(dir, 'nope.yaml'), '/').catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: 'ERR_CLI_CONFIG_FILE', message: `${join(dir, 'nope.yaml')}: cannot read it (ENOENT)` });
  });

  it('names the secrets of a file others can read: the admin token, the master key, a database URL with a password', async () => {
    const secrets = 'adminToken: x\nmasterKey: y\n';
    expect((await readConfigFile(await write('s1.yaml', secrets, 0o644), '/')).exposedSecrets).toEqual(['adminToken', 'masterKey']);
    expect((await readConfigFile(await write('s2.yaml', secrets, 0o600), '/')).exposedSecrets).toEqual([]);
    expect((await readConfigFile(await write('s3.yaml', 'databaseUrl: postgres://verity:pw@db/verity\n', 0o640), '/')).exposedSecrets).toEqual(['databaseUrl']);
    expect((await readConfigFile(await write('s4.yaml', 'databaseUrl: postgres://db/verity?password=pw\n', 0o604), '/')).exposedSecrets).toEqual(['databaseUrl']);
    expect((await readConfigFile(await write('s5.yaml', 'databaseUrl: postgres://verity@db/verity\n', 0o644), '/')).exposedSecrets).toEqual([]);
  });
});

describe('the settings table', () => {
  it('gives every key a type, and the schema refuses keys it does not list', () => {
    expect(CONFIG_FILE_SCHEMA.additionalProperties).toBe(false);
    expect(Object.keys(CONFIG_FILE_SCHEMA.properties)).toEqual(SERVE_SETTINGS.map((s) => s.key));
    for (const schema of Object.values(CONFIG_FILE_SCHEMA.properties)) expect(Object.keys(schema)).toContainEqual(expect.stringMatching(/^(type|anyOf)$/));
  });

  it("shows resolveConfig's defaults, and names only ServerConfig keys besides workers", () => {
    const defaults: Record<string, unknown> = resolveConfig({});
    for (const setting of SERVE_SETTINGS) {
      if (setting.key === 'workers') continue;
      expect(defaults, setting.key).toHaveProperty(setting.key);
      const value = defaults[setting.key];
      // null, and the spool folder derived from the store, are described in words instead.
      if (value !== null && setting.key !== 'auditSpoolDir') expect(setting.default, setting.key).toBe(String(value));
    }
  });
});

describe('docs/configuration.md', () => {
  /** The reference table's rows: key, type, default, env, flag (backticks dropped), by key. */
  async function documentedRows(): Promise<Map<string, string[]>> {
    const text = await readFile(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
    const section = text.slice(text.indexOf('## Reference'));
    const rows = [...section.matchAll(/^\| `(\w+)` \|(.*)\|$/gm)].map((m) => [m[1] as string, (m[2] as string).split(' | ').map((cell) => cell.replaceAll('`', '').trim())] as const);
    return new Map(rows.map(([key, cells]) => [key, cells.slice(0, 4)]));
  }

  const TYPE_WORDS = { integer: 'integer', string: 'string', path: 'path', boolean: 'boolean', workers: 'integer or auto' };
  const expectedRow = (s: ServeSetting): string[] => [
    TYPE_WORDS[s.type],
    s.default ?? '—',
    s.env?.join(', ') ?? '—',
    s.flag === undefined ? '—' : [`--${s.flag.name}`, ...(s.flag.short === undefined ? [] : [`-${s.flag.short}`])].join(', '),
  ];

  it('lists exactly the keys of the schema, each with the type, default, env vars and flag of the table', async () => {
    const rows = await documentedRows();
    expect([...rows.keys()]).toEqual(Object.keys(CONFIG_FILE_SCHEMA.properties));
    for (const setting of SERVE_SETTINGS) expect(rows.get(setting.key), setting.key).toEqual(expectedRow(setting));
  });
});

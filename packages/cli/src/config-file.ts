/** `verity serve --config FILE`: a YAML or JSON file of serve's settings, checked once against a JSON Schema. */
import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { parseDocument } from 'yaml';
import { cliError } from './errors.js';
import { SERVE_SETTINGS, settingsFromFile, type GivenSettings, type ServeSetting, type SettingType } from './serve-settings.js';

const TYPE_SCHEMAS: Readonly<Record<SettingType, object>> = {
  integer: { type: 'integer', minimum: 0 },
  string: { type: 'string', minLength: 1 },
  path: { type: 'string', minLength: 1 },
  boolean: { type: 'boolean' },
  workers: { anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string', const: 'auto' }] },
};

/** What a value of each type must be, for messages (the range is resolveConfig's to say). */
const TYPE_WORDS: Readonly<Record<SettingType, string>> = {
  integer: 'a whole number',
  string: 'a non-empty string',
  path: 'a non-empty string (a path, relative to this file)',
  boolean: 'true or false',
  workers: 'a whole number or "auto"',
};

/** The config file's schema: every setting of SERVE_SETTINGS with its type; no other key. */
export const CONFIG_FILE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(SERVE_SETTINGS.map((s) => [s.key, TYPE_SCHEMAS[s.type]])),
} as const;

const validate = new Ajv({ allErrors: true }).compile(CONFIG_FILE_SCHEMA);

/** A read and checked config file. */
export interface ConfigFile {
  /** The path as given, for messages. */
  file: string;
  /** Its settings, paths resolved against its folder. */
  settings: GivenSettings;
  /** Keys that hold a credential while the file can be read by others than its owner (mode & 077). */
  exposedSecrets: string[];
}

function configError(file: string, problem: string) {
  return cliError('ERR_CLI_CONFIG_FILE', `${file}: ${problem}`);
}

/** `data` for `dataDir`, `log_level` for `logLevel`: the key meant by an unknown one, if it is clear. */
function meantKey(unknown: string): ServeSetting | undefined {
  const plain = (name: string) => name.toLowerCase().replace(/[-_]/g, '');
  return SERVE_SETTINGS.find((s) => s.flag?.name === unknown || plain(s.key) === plain(unknown));
}

/** One line per schema violation: the key path and what is wrong (never the value: it may be a secret). */
function describeErrors(errors: readonly ErrorObject[]): string[] {
  const problems = new Map<string, string>();
  for (const error of errors) {
    const path = error.instancePath.slice(1).replaceAll('/', '.');
    if (error.keyword === 'additionalProperties') {
      const key = String(error.params['additionalProperty']);
      const meant = meantKey(key);
      problems.set(key, `${key}: not a setting${meant === undefined ? '' : ` (did you mean ${meant.key}?)`}`);
    } else if (path === '') {
      problems.set(path, 'must be a mapping of settings (key: value)');
    } else {
      const setting = SERVE_SETTINGS.find((s) => s.key === path);
      problems.set(path, `${path}: must be ${setting === undefined ? error.message : TYPE_WORDS[setting.type]}`);
    }
  }
  return [...problems.values()];
}

/** An empty file, or one of comments only, gives no settings. */
function parseText(text: string, file: string): unknown {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const [error] = document.errors;
  // The first line only: the rest quotes the file, and a value may be a secret.
  if (error !== undefined) throw configError(file, `not valid YAML or JSON: ${error.message.split('\n')[0]?.replace(/:$/, '')}`);
  try {
    return document.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (error) {
    // An alias with no anchor, or past the alias bound: the document parsed but has no value.
    throw configError(file, `not valid YAML or JSON: ${(error as Error).message.split('\n')[0]?.replace(/:.*$/, '')}`);
  }
}

/** A key holds a credential: the admin token, the master key, or a database URL with a password. */
function holdsSecret(setting: ServeSetting, value: unknown): boolean {
  if (setting.secret === undefined) return false;
  if (setting.key !== 'databaseUrl') return true;
  try {
    const url = new URL(String(value));
    return url.password !== '' || url.searchParams.has('password');
  } catch {
    return true; // Not a URL we can read: assume it may carry one.
  }
}

/**
 * Reads and checks a config file (YAML, or JSON, which YAML 1.2 contains). Every problem is an
 * ERR_CLI_CONFIG_FILE (exit 2) naming the file and the key; the file is checked whole, also
 * where flags or env vars override it.
 */
export async function readConfigFile(file: string, cwd: string): Promise<ConfigFile> {
  const path = resolve(cwd, file);
  let text: string;
  let mode: number;
  try {
    [text, { mode }] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
  } catch (error) {
    throw configError(file, `cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const values = parseText(text, file);
  if (!validate(values)) throw configError(file, describeErrors(validate.errors ?? []).join('; '));
  const record = values as Record<string, string | number | boolean>;
  const exposedSecrets = (mode & 0o077) === 0 ? [] : SERVE_SETTINGS.filter((s) => s.key in record && holdsSecret(s, record[s.key])).map((s) => s.key);
  return { file, settings: settingsFromFile(record, file, dirname(path)), exposedSecrets };
}

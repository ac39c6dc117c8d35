/** The development issuer's signing key and issuer URL, in one file that `dev idp` and `dev token` share. */
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
// jose is imported where a key is made or read, not at start-up: `verity --help` and most commands never need it.
import type { CryptoKey, JWK } from 'jose';
import { isPlainObject } from '@verity/core';
import { cliError, usageError } from '../errors.js';

/** ES256, as Verity's own token service signs; every identity source accepts it by default. */
export const DEV_ALGORITHM = 'ES256';
/** Where the key lives unless `--dir` says otherwise, relative to the working directory. */
export const DEFAULT_DEV_DIR = '.verity-dev-idp';
export const DEFAULT_DEV_PORT = 8900;
/** The audience the docs' examples use (README's tour, docs/identity.md). */
export const DEFAULT_DEV_AUDIENCE = 'https://api.acme.example';

const KEY_FILE = 'key.json';
const WARNING = 'Verity development issuer (verity dev idp). DEVELOPMENT ONLY: whoever reads this file can sign tokens that every tenant trusting this issuer accepts.';

/** The dev issuer as the commands use it: who it is, its public key, and the key that signs. */
export interface DevIssuer {
  issuer: string;
  /** The key file's path. */
  file: string;
  kid: string;
  /** The public JWK (`kid`, `alg`, `use`), as served in the JWKS and put inline in a source. */
  publicJwk: JWK;
  privateKey: CryptoKey;
}

interface KeyFileContent {
  issuer: string;
  key: JWK;
}

/** The issuer URL of a dev issuer served on this machine's loopback at `port`. */
export function devIssuerUrl(port: number): string {
  return `http://127.0.0.1:${port}`;
}

function badFile(file: string, why: string): Error {
  return cliError('ERR_CLI_FILE', `${file} ${why}; remove it to make a new development key`);
}

function publicPart(key: JWK): JWK {
  const { kty, crv, x, y, kid } = key;
  return { kty, crv, x, y, kid, alg: DEV_ALGORITHM, use: 'sig' } as JWK;
}

async function createContent(issuer: string): Promise<KeyFileContent> {
  const { calculateJwkThumbprint, exportJWK, generateKeyPair } = await import('jose');
  const { privateKey } = await generateKeyPair(DEV_ALGORITHM, { extractable: true });
  const key = await exportJWK(privateKey);
  key.kid = await calculateJwkThumbprint(key);
  return { issuer, key: { ...key, alg: DEV_ALGORITHM, use: 'sig' } };
}

function serialize(content: KeyFileContent): string {
  return `${JSON.stringify({ warning: WARNING, ...content }, null, 2)}\n`;
}

async function readContent(file: string): Promise<KeyFileContent> {
  // A private key others can read is no longer this developer's alone: refuse it, as ssh does.
  if (process.platform !== 'win32' && ((await stat(file)).mode & 0o077) !== 0) throw badFile(file, 'may be read by other users (chmod 600 it)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    throw badFile(file, 'is not JSON');
  }
  if (!isPlainObject(parsed) || typeof parsed['issuer'] !== 'string' || !isPlainObject(parsed['key'])) throw badFile(file, 'is not a development issuer key file');
  const key = parsed['key'] as JWK;
  if (key.kty !== 'EC' || key.crv !== 'P-256' || typeof key.d !== 'string' || typeof key.kid !== 'string') throw badFile(file, 'does not hold a P-256 private key');
  return { issuer: parsed['issuer'], key };
}

/** Writes the file whole (a temporary file renamed over it), readable by its owner only. */
async function replaceContent(file: string, content: KeyFileContent): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, serialize(content), { mode: 0o600 });
  await rename(temporary, file);
}

/** Reads the key file of `dir`, or creates one (exclusively: two commands started at once share one key). */
async function loadOrCreate(file: string, dir: string, issuer: string): Promise<KeyFileContent> {
  try {
    return await readContent(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // The folder often sits in a repository's working tree: keep the private key out of commits.
  await writeFile(join(dir, '.gitignore'), '*\n', { flag: 'w' });
  const content = await createContent(issuer);
  try {
    await writeFile(file, serialize(content), { mode: 0o600, flag: 'wx' });
    return content;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return readContent(file);
  }
}

/**
 * The dev issuer kept in `dir`: its key file is read, or made with a new ES256 key (mode 0600).
 * With `issuer`, that issuer is recorded in the file (tokens `dev token` mints from then on carry
 * it); without, the recorded one stands, or `http://127.0.0.1:8900` for a new key.
 */
export async function openDevIssuer(dir: string, issuer?: string): Promise<DevIssuer> {
  const file = join(dir, KEY_FILE);
  let content = await loadOrCreate(file, dir, issuer ?? devIssuerUrl(DEFAULT_DEV_PORT));
  if (issuer !== undefined && content.issuer !== issuer) {
    content = { ...content, issuer };
    await replaceContent(file, content);
  }
  const { importJWK } = await import('jose');
  let privateKey: CryptoKey;
  try {
    privateKey = (await importJWK(content.key, DEV_ALGORITHM)) as CryptoKey;
  } catch {
    throw badFile(file, 'holds a key that does not import');
  }
  return { issuer: content.issuer, file, kid: content.key.kid as string, publicJwk: publicPart(content.key), privateKey };
}

/** The `--dir` flag both dev commands take. */
export const devDirOption = {
  dir: { type: 'string', valueName: 'DIR', description: `folder of the dev issuer's key file (default ./${DEFAULT_DEV_DIR}/)` },
} as const;

/** The key folder `--dir` names, resolved against the working directory. */
export function devDir(value: unknown, cwd: string): string {
  if (value === '') throw usageError('--dir must not be empty');
  return resolve(cwd, typeof value === 'string' ? value : DEFAULT_DEV_DIR);
}

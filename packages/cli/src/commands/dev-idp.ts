/** `verity dev idp`: a local OIDC issuer for development, or (`--source`) the identity source that trusts it. */
import type { Command, CommandIo, ParsedArgs } from '../command.js';
import { EXIT, usageError } from '../errors.js';
import { wantsJson, writeJson, writeLines } from '../output.js';
import { JWKS_PATH, startDevIdpServer, type DevIdpServer } from './dev-idp-server.js';
import { DEFAULT_DEV_AUDIENCE, DEFAULT_DEV_PORT, DEV_ALGORITHM, devDir, devDirOption, devIssuerUrl, openDevIssuer, type DevIssuer } from './dev-key.js';

const DEVELOPMENT_ONLY = 'DEVELOPMENT ONLY: this issuer signs with a key kept unprotected in a file; never trust it on a tenant that matters.';
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

interface IdpFlags {
  port: number;
  dir: string;
  issuer: string | undefined;
  audience: string;
  tenant: string;
}

function stringFlag(args: ParsedArgs, name: string, fallback: string): string {
  const value = args.values[name];
  if (value === '') throw usageError(`--${name} must not be empty`);
  return typeof value === 'string' ? value : fallback;
}

function parsePort(text: string): number {
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) > 65535) throw usageError(`--port must be a port number (0 picks a free one), got '${text}'`);
  return Number(text);
}

/** An issuer is compared byte for byte with a token's `iss`: an http(s) URL without query, fragment or credentials. */
function parseIssuer(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(value as string);
  } catch {
    url = undefined;
  }
  if (url === undefined || !['http:', 'https:'].includes(url.protocol) || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw usageError('--issuer must be an http(s) URL without query, fragment or credentials');
  }
  return value as string;
}

function parseFlags(args: ParsedArgs, io: CommandIo): IdpFlags {
  return {
    port: parsePort(stringFlag(args, 'port', String(DEFAULT_DEV_PORT))),
    dir: devDir(args.values['dir'], io.cwd),
    issuer: parseIssuer(args.values['issuer']),
    audience: stringFlag(args, 'aud', DEFAULT_DEV_AUDIENCE),
    tenant: stringFlag(args, 'tenant', 'acme'),
  };
}

/**
 * The identity source that trusts the dev issuer with its public key inline (docs/identity.md):
 * nothing is fetched, so it needs no reachable issuer. Claims map as in the docs' examples.
 */
export function devIdentitySource(issuer: DevIssuer, audience: string): Record<string, unknown> {
  return {
    issuer: issuer.issuer,
    keys: { kind: 'inline', keys: [issuer.publicJwk] },
    audiences: [audience],
    algorithms: [DEV_ALGORITHM],
    claims: { principalType: 'User', groupsClaim: 'groups', context: { scopes: 'scope' } },
  };
}

/** A server without --allow-insecure-identity-sources refuses such an issuer, even with inline keys. */
function isLocalIssuer(issuer: string): boolean {
  const url = new URL(issuer);
  return url.protocol !== 'https:' || LOOPBACK_HOSTS.has(url.hostname) || url.hostname.endsWith('.localhost');
}

function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `verity identity-source add …` for the served issuer: by discovery when it is the issuer, else by its JWKS URL. */
function addCommand(flags: IdpFlags, issuer: string, url: string): string {
  const keys = issuer === url ? ['--discovery'] : ['--jwks-uri', `${url}${JWKS_PATH}`];
  const words = ['verity', 'identity-source', 'add', '--tenant', flags.tenant, 'dev', ...keys, '--issuer', issuer, '--audience', flags.audience, '--principal-type', 'User', '--groups-claim', 'groups', '--context', 'scopes=scope'];
  return words.map(shellWord).join(' ');
}

function printSource(io: CommandIo, flags: IdpFlags, issuer: DevIssuer): void {
  writeJson(io.stdout, devIdentitySource(issuer, flags.audience));
  const put = `curl -XPUT $VERITY/admin/v1/tenants/${flags.tenant}/identity-sources/dev -H "authorization: Bearer $VERITY_ADMIN_TOKEN" -H 'content-type: application/json' -d @FILE`;
  writeLines(io.stderr, DEVELOPMENT_ONLY, `key file: ${issuer.file}`, `Save this identity source to FILE and PUT it: ${put}`);
  if (isLocalIssuer(issuer.issuer)) {
    writeLines(io.stderr, `note: a server without --allow-insecure-identity-sources refuses the issuer ${issuer.issuer}, even with inline keys; give an https --issuer (a name of your choosing: an inline source never fetches it)`);
  }
}

/** Serves until the signal, then closes; the issuer is its own address unless --issuer names another. */
async function serve(args: ParsedArgs, io: CommandIo, flags: IdpFlags): Promise<number> {
  let issuer: DevIssuer | undefined;
  let server: DevIdpServer;
  try {
    server = await startDevIdpServer(flags.port, () => issuer);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw usageError(`127.0.0.1:${flags.port} is in use; choose another --port`);
    throw error;
  }
  try {
    issuer = await openDevIssuer(flags.dir, flags.issuer ?? server.url);
    const jwksUri = `${server.url}${JWKS_PATH}`;
    const command = addCommand(flags, issuer.issuer, server.url);
    if (wantsJson(args)) {
      writeJson(io.stdout, { development_only: true, issuer: issuer.issuer, jwks_uri: jwksUri, key_file: issuer.file, identity_source_add: command });
    } else {
      writeLines(
        io.stdout,
        DEVELOPMENT_ONLY,
        `issuer:   ${issuer.issuer}`,
        `jwks_uri: ${jwksUri}`,
        `key file: ${issuer.file}`,
        'Trust it on a server started with --allow-insecure-identity-sources (development only):',
        `  ${command}`,
        `On a server without that flag: verity dev idp --source --issuer https://… (inline keys; docs/identity.md).`,
        `A user token: verity dev token --sub alice${flags.dir === devDir(undefined, io.cwd) ? '' : ` --dir ${shellWord(flags.dir)}`} > user.jwt`,
        'Serving until interrupted (Ctrl-C).',
      );
    }
    await new Promise<void>((stop) => {
      if (io.signal === undefined || io.signal.aborted) return stop();
      io.signal.addEventListener('abort', () => stop(), { once: true });
    });
    return EXIT.OK;
  } finally {
    await server.close();
  }
}

export const devIdp: Command = {
  name: 'dev idp',
  summary: 'DEVELOPMENT ONLY: a local OIDC issuer (discovery + JWKS on 127.0.0.1) for the tokens of `dev token`',
  usage: '[--port N] [--dir DIR] [--issuer URL] [--aud A] [--tenant T] [--source]',
  arguments: [],
  options: {
    port: { type: 'string', valueName: 'N', description: `port on 127.0.0.1 to serve on (default ${DEFAULT_DEV_PORT}; 0 picks a free one)` },
    ...devDirOption,
    issuer: { type: 'string', valueName: 'URL', description: 'the issuer (iss) of its tokens (default http://127.0.0.1:PORT); recorded in the key file' },
    aud: { type: 'string', valueName: 'A', description: `the audience the printed identity source accepts (default ${DEFAULT_DEV_AUDIENCE})` },
    tenant: { type: 'string', short: 't', valueName: 'T', description: 'the tenant named in the printed command (default acme)' },
    source: { type: 'boolean', description: 'print an identity source (JSON) with the public key inline, and exit' },
  },
  details: [
    'FOR DEVELOPMENT ONLY. Its ES256 key sits unprotected in DIR/key.json (mode 0600, made on first',
    "use, kept across restarts); anyone who reads it can sign tokens a tenant trusting this issuer",
    'accepts. It serves /.well-known/openid-configuration and /.well-known/jwks.json on 127.0.0.1 only,',
    "and prints the issuer and the 'verity identity-source add' command that trusts it. Verity fetches",
    'from http or loopback issuers only when the server runs with --allow-insecure-identity-sources.',
    '--source prints instead an identity source with the public key inline, to PUT to',
    '/admin/v1/tenants/T/identity-sources/ID (docs/identity.md); it needs no flag on the server when',
    'the issuer is https (--issuer https://idp.dev.example: an inline source never fetches it).',
    "Each run records its issuer in the key file; 'verity dev token' signs with that issuer.",
  ].join('\n'),
  async run(args, io) {
    const flags = parseFlags(args, io);
    if (args.values['source'] !== true) return serve(args, io, flags);
    const issuer = await openDevIssuer(flags.dir, flags.issuer ?? devIssuerUrl(flags.port));
    printSource(io, flags, issuer);
    return EXIT.OK;
  },
};

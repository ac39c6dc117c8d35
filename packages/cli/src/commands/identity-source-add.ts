/** `verity identity-source add --tenant T ID`: trust a token issuer for a tenant (create or replace). */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isPlainObject } from '@verity/core';
import type { Command, ParsedArgs } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption } from '../client.js';
import { cliError, EXIT, usageError } from '../errors.js';
import { writeLines, writeResult } from '../output.js';

type KeySource = { kind: 'discovery' } | { kind: 'jwks'; jwksUri: string } | { kind: 'inline'; keys: unknown[] };

/** JWK members only private or symmetric keys have; such a file must not leave the machine. */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  if (value === '') throw usageError(`--${name} must not be empty`);
  return typeof value === 'string' ? value : undefined;
}

function requiredFlag(args: ParsedArgs, name: string): string {
  const value = stringFlag(args, name);
  if (value === undefined) throw usageError(`--${name} is required`);
  return value;
}

function listFlag(args: ParsedArgs, name: string): string[] {
  const value = args.values[name];
  return Array.isArray(value) ? [...(value as readonly string[])] : [];
}

/** `--attribute name=claim …` as `{name: claim}`; the split is at the first `=`. */
function mappingFlag(args: ParsedArgs, name: string): Record<string, string> | undefined {
  const pairs = listFlag(args, name);
  if (pairs.length === 0) return undefined;
  const mapping: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    const key = pair.slice(0, at);
    if (at <= 0 || at === pair.length - 1) throw usageError(`--${name} must be name=claim, got '${pair}'`);
    if (key in mapping) throw usageError(`--${name} ${key} is given twice`);
    mapping[key] = pair.slice(at + 1);
  }
  return mapping;
}

/** A JWKS file `{keys: [...]}` or a bare array of public JWKs. */
async function readInlineKeys(file: string, cwd: string): Promise<unknown[]> {
  const text = await readFile(resolve(cwd, file), 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw cliError('ERR_CLI_KEYS_FILE', `${file} is not JSON`);
  }
  const keys = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw cliError('ERR_CLI_KEYS_FILE', `${file} must hold a JWKS {"keys": [...]} or an array of JWKs`);
  keys.forEach((jwk, i) => {
    if (!isPlainObject(jwk)) throw cliError('ERR_CLI_KEYS_FILE', `${file}: key ${i} is not a JWK object`);
    // Refuse before sending: the server would reject it too, but by then the private key has left the machine.
    if (PRIVATE_JWK_MEMBERS.some((member) => member in jwk)) throw cliError('ERR_CLI_KEYS_FILE', `${file}: key ${i} is private or symmetric; give public keys only`);
  });
  return keys;
}

async function keySource(args: ParsedArgs, cwd: string): Promise<KeySource> {
  const jwksUri = stringFlag(args, 'jwks-uri');
  const keysFile = stringFlag(args, 'keys');
  const chosen = [args.values['discovery'] === true, jwksUri !== undefined, keysFile !== undefined].filter(Boolean).length;
  if (chosen !== 1) throw usageError('give exactly one of --discovery, --jwks-uri, --keys');
  if (jwksUri !== undefined) return { kind: 'jwks', jwksUri };
  if (keysFile !== undefined) return { kind: 'inline', keys: await readInlineKeys(keysFile, cwd) };
  return { kind: 'discovery' };
}

function clockTolerance(args: ParsedArgs): number | undefined {
  const text = stringFlag(args, 'clock-tolerance');
  if (text === undefined) return undefined;
  if (!/^[0-9]{1,6}$/.test(text)) throw usageError(`--clock-tolerance must be a whole number of seconds, got '${text}'`);
  return Number(text);
}

/** The PUT body of docs/http-api.md; optional members are left out so the server's defaults apply. */
async function sourceBody(args: ParsedArgs, cwd: string): Promise<{ issuer: string } & Record<string, unknown>> {
  const issuer = requiredFlag(args, 'issuer');
  const audiences = listFlag(args, 'audience');
  if (audiences.length === 0) throw usageError('--audience is required (repeat it for several)');
  const principalType = requiredFlag(args, 'principal-type');
  const algorithms = listFlag(args, 'algorithm');
  const clockToleranceSec = clockTolerance(args);
  const claims = {
    principalType,
    idClaim: stringFlag(args, 'id-claim'),
    groupsClaim: stringFlag(args, 'groups-claim'),
    groupType: stringFlag(args, 'group-type'),
    attributes: mappingFlag(args, 'attribute'),
    context: mappingFlag(args, 'context'),
  };
  return {
    issuer,
    keys: await keySource(args, cwd),
    audiences,
    ...(algorithms.length > 0 ? { algorithms } : {}),
    ...(clockToleranceSec === undefined ? {} : { clockToleranceSec }),
    claims: Object.fromEntries(Object.entries(claims).filter(([, value]) => value !== undefined)),
  };
}

export const identitySourceAdd: Command = {
  name: 'identity-source add',
  summary: "Trust a token issuer for a tenant (creates or replaces the source ID)",
  usage:
    '--tenant T ID (--discovery | --jwks-uri URL | --keys FILE) --issuer URL --audience A… --principal-type TYPE ' +
    '[--algorithm ALG…] [--clock-tolerance SEC] [--id-claim C] [--groups-claim C] [--group-type T] [--attribute NAME=CLAIM…] [--context KEY=CLAIM…]',
  arguments: ['ID'],
  options: {
    ...tenantOption,
    issuer: { type: 'string', valueName: 'URL', description: "the exact 'iss' of the tokens (required)" },
    discovery: { type: 'boolean', description: "find the keys by OIDC discovery at the issuer's /.well-known/openid-configuration" },
    'jwks-uri': { type: 'string', valueName: 'URL', description: 'fetch the keys from this JWKS URL' },
    keys: { type: 'string', valueName: 'FILE', description: 'public keys inline, from a JWKS file {"keys": [...]} or an array of JWKs' },
    audience: { type: 'string', valueName: 'A', multiple: true, description: "an accepted 'aud' (required)" },
    algorithm: { type: 'string', valueName: 'ALG', multiple: true, description: 'an accepted signature algorithm (default RS256, ES256, EdDSA)' },
    'clock-tolerance': { type: 'string', valueName: 'SEC', description: 'seconds of clock skew tolerated (default 30)' },
    'principal-type': { type: 'string', valueName: 'TYPE', description: 'Cedar entity type of the principal, e.g. User (required)' },
    'id-claim': { type: 'string', valueName: 'C', description: 'claim holding the principal id (default sub)' },
    'groups-claim': { type: 'string', valueName: 'C', description: 'claim holding group names, which become parent entities' },
    'group-type': { type: 'string', valueName: 'T', description: 'Cedar entity type of those groups (default Group)' },
    attribute: { type: 'string', valueName: 'NAME=CLAIM', multiple: true, description: 'principal attribute NAME from claim CLAIM' },
    context: { type: 'string', valueName: 'KEY=CLAIM', multiple: true, description: 'request context KEY from claim CLAIM' },
    ...remoteOptions,
  },
  details: [
    'PUTs the source to /admin/v1/tenants/T/identity-sources/ID; the server validates it (exit 3 when',
    'it is of the wrong form). Give exactly one of --discovery, --jwks-uri, --keys.',
    remoteDetails,
  ].join('\n'),
  async run(args, io) {
    const path = `${adminTenantPath(args)}/identity-sources/${encodeURIComponent(args.positionals[0] ?? '')}`;
    const body = await sourceBody(args, io.cwd);
    const answer = await clientFromArgs(args, io).request<{ id?: string; issuer?: string }>('PUT', path, { body });
    writeResult(args, io, answer, () => writeLines(io.stdout, `saved identity source ${answer.id ?? args.positionals[0] ?? ''} (issuer ${answer.issuer ?? body.issuer})`));
    return EXIT.OK;
  },
};

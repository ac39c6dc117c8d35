/** `verity token inspect [FILE|-]`: decode a JWT's header and claims locally, without verifying it. */
import type { Command } from '../command.js';
import { cliError, EXIT } from '../errors.js';
import { show, writeJson, writeLines } from '../output.js';
import { readToken } from '../token-service.js';

/** Registered claims (RFC 7519 §4.1.4–4.1.6) that are NumericDate seconds. */
const TIME_CLAIMS = new Set(['exp', 'nbf', 'iat', 'auth_time']);
const UNVERIFIED = 'signature: NOT verified (decoded locally; anyone can forge these claims)';

async function decode(token: string): Promise<{ header: Record<string, unknown>; claims: Record<string, unknown> }> {
  const { decodeJwt, decodeProtectedHeader } = await import('jose'); // jose loads here, not at start-up.
  // jose's messages are fixed texts, but ours are too: nothing of the token may reach a message.
  let header: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw cliError('ERR_CLI_TOKEN_MALFORMED', 'not a JWT: the header does not decode');
  }
  try {
    return { header, claims: decodeJwt(token) };
  } catch {
    throw cliError('ERR_CLI_TOKEN_MALFORMED', 'not a JWT: the claims do not decode (a compact JWS with a JSON payload is expected)');
  }
}

function formatValue(name: string, value: unknown, now: number): string {
  if (!TIME_CLAIMS.has(name) || typeof value !== 'number' || !Number.isFinite(value)) return show(value);
  const iso = new Date(value * 1000).toISOString();
  if (name !== 'exp') return `${value} (${iso})`;
  return `${value} (${iso}, ${value * 1000 <= now ? 'EXPIRED' : 'not expired'})`;
}

function section(title: string, record: Record<string, unknown>, now: number): string[] {
  return [`${title}:`, ...Object.entries(record).map(([name, value]) => `  ${name}: ${formatValue(name, value, now)}`)];
}

export const tokenInspect: Command = {
  name: 'token inspect',
  summary: 'Decode a JWT header and claims locally (signature NOT verified)',
  usage: '[FILE|-]',
  arguments: [],
  optionalArguments: ['FILE'],
  options: {},
  details: [
    "Reads the token from FILE, or from standard input when FILE is '-' or left out. No server is",
    'asked and the signature is NOT checked: use it to read a token, never to trust one. The token',
    'itself is not printed. --json prints {header, claims}. A malformed token exits 3.',
  ].join('\n'),
  async run(args, io) {
    const token = await readToken(args.positionals[0] ?? '-', io);
    const decoded = await decode(token);
    if (args.values['json'] === true) {
      writeLines(io.stderr, UNVERIFIED);
      writeJson(io.stdout, decoded);
      return EXIT.OK;
    }
    const now = Date.now();
    writeLines(io.stdout, UNVERIFIED, ...section('header', decoded.header, now), ...section('claims', decoded.claims, now));
    if (!('exp' in decoded.claims)) writeLines(io.stdout, 'expiry: none (no exp claim)');
    return EXIT.OK;
  },
};

/** `verity dev token --sub S`: a user token signed by the development issuer's key, printed alone on stdout. */
import { randomUUID } from 'node:crypto';
import { parseJsonObjectFlag } from '../arguments.js';
import type { Command } from '../command.js';
import { EXIT, usageError } from '../errors.js';
import { wantsJson, writeJson, writeLines } from '../output.js';
import { DEFAULT_DEV_AUDIENCE, DEV_ALGORITHM, devDir, devDirOption, openDevIssuer } from './dev-key.js';

const DEFAULT_TTL_SEC = 300;
/** A day: a development token that outlives that is a credential someone will forget. */
const MAX_TTL_SEC = 86_400;
/** Claims the flags and the issuer set; `--claims` may not override them. */
const SET_BY_FLAGS: Readonly<Record<string, string>> = { iss: 'the key file', sub: '--sub', aud: '--aud', exp: '--ttl', iat: '--ttl', nbf: '--ttl', jti: 'the command' };

function parseTtl(value: unknown): number {
  if (value === undefined) return DEFAULT_TTL_SEC;
  const text = value as string;
  if (!/^[1-9][0-9]{0,5}$/.test(text) || Number(text) > MAX_TTL_SEC) throw usageError(`--ttl must be whole seconds from 1 to ${MAX_TTL_SEC}, got '${text}'`);
  return Number(text);
}

function parseClaims(value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  const claims = parseJsonObjectFlag(value as string, 'claims');
  for (const name of Object.keys(claims)) {
    const owner = SET_BY_FLAGS[name];
    if (owner !== undefined) throw usageError(`--claims may not set '${name}': ${owner} sets it`);
  }
  return claims;
}

export const devToken: Command = {
  name: 'dev token',
  summary: "DEVELOPMENT ONLY: mint a user token signed by the dev issuer's key; prints only the token",
  usage: '--sub SUB [--claims JSON] [--aud A] [--ttl SEC] [--dir DIR]',
  arguments: [],
  options: {
    sub: { type: 'string', valueName: 'SUB', description: 'the subject (sub), e.g. alice (required)' },
    claims: { type: 'string', valueName: 'JSON', description: `more claims as a JSON object, e.g. '{"groups":["admins"],"scope":"stock:read"}'` },
    aud: { type: 'string', valueName: 'A', description: `the audience (aud) (default ${DEFAULT_DEV_AUDIENCE})` },
    ttl: { type: 'string', valueName: 'SEC', description: `lifetime in seconds (default ${DEFAULT_TTL_SEC}, at most ${MAX_TTL_SEC})` },
    ...devDirOption,
  },
  details: [
    "FOR DEVELOPMENT ONLY. Signs with the key in DIR/key.json (made on first use, as 'verity dev idp'",
    "makes it) and names the issuer recorded there by the last 'verity dev idp' (default",
    'http://127.0.0.1:8900). Prints the token alone on stdout, e.g.',
    `  verity dev token --sub alice --claims '{"groups":["admins"]}' > user.jwt`,
    'and what it holds (never the token) on stderr; --json prints {token, issuer, sub, aud, expires_at}.',
    "A tenant accepts it once it trusts the issuer: 'verity dev idp --help'.",
  ].join('\n'),
  async run(args, io) {
    const sub = args.values['sub'];
    if (typeof sub !== 'string' || sub === '') throw usageError('--sub is required');
    const claims = parseClaims(args.values['claims']);
    const aud = args.values['aud'] ?? DEFAULT_DEV_AUDIENCE;
    if (typeof aud !== 'string' || aud === '') throw usageError('--aud must not be empty');
    const ttl = parseTtl(args.values['ttl']);
    const issuer = await openDevIssuer(devDir(args.values['dir'], io.cwd));
    const { SignJWT } = await import('jose'); // jose loads here, not at start-up.
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ ...claims, sub })
      .setProtectedHeader({ alg: DEV_ALGORITHM, kid: issuer.kid, typ: 'JWT' })
      .setIssuer(issuer.issuer)
      .setAudience(aud)
      .setIssuedAt(now)
      .setExpirationTime(now + ttl)
      .setJti(randomUUID())
      .sign(issuer.privateKey);
    const expiresAt = new Date((now + ttl) * 1000).toISOString();
    if (wantsJson(args)) {
      writeJson(io.stdout, { token, issuer: issuer.issuer, sub, aud, expires_at: expiresAt });
      return EXIT.OK;
    }
    writeLines(io.stdout, token);
    writeLines(io.stderr, `DEVELOPMENT ONLY: a token of ${issuer.issuer} for sub ${sub}, aud ${aud}, expires ${expiresAt}`);
    return EXIT.OK;
  },
};

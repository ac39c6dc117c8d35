/** Tests for `token inspect`: local decoding of tokens signed here with a generated key. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { SignJWT, generateKeyPair } from 'jose';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../errors.js';
import { run } from '../test-helpers.js';

let dir: string;
let token: string;
let expired: string;
const exp = 4102444800; // 2100-01-01T00:00:00Z
const iat = 1735689600; // 2025-01-01T00:00:00Z

beforeAll(async () => {
  const { privateKey } = await generateKeyPair('ES256');
  token = await new SignJWT({ scope: 'orders:read', groups: ['admins', 'ops'] })
    .setProtectedHeader({ alg: 'ES256', kid: 'key-1', typ: 'at+jwt' })
    .setIssuer('https://idp.example/')
    .setSubject('alice')
    .setAudience('api://orders')
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(privateKey);
  expired = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setSubject('bob').setExpirationTime(iat).sign(privateKey);
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-inspect-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('verity token inspect', () => {
  it('prints header and claims, exp as ISO time, and that the signature is NOT verified; never the token', async () => {
    await writeFile(join(dir, 'at.jwt'), `${token}\n`);
    const { code, out, err } = await run(['token', 'inspect', 'at.jwt'], { cwd: dir });
    expect(code).toBe(EXIT.OK);
    expect(out).toBe(
      [
        'signature: NOT verified (decoded locally; anyone can forge these claims)',
        'header:',
        '  alg: ES256',
        '  kid: key-1',
        '  typ: at+jwt',
        'claims:',
        '  scope: orders:read',
        '  groups: ["admins","ops"]',
        '  iss: https://idp.example/',
        '  sub: alice',
        '  aud: api://orders',
        `  iat: ${iat} (2025-01-01T00:00:00.000Z)`,
        `  exp: ${exp} (2100-01-01T00:00:00.000Z, not expired)`,
        '',
      ].join('\n'),
    );
    expect(err).toBe('');
    const signature = token.split('.')[2] ?? '';
    expect(out).not.toContain(signature);
    expect(out).not.toContain(token.split('.')[1] ?? '');
  });

  it("reads stdin when FILE is '-' or left out; says when it has expired or has no exp", async () => {
    const piped = await run(['token', 'inspect', '-'], { stdin: Readable.from([expired]) });
    expect(piped.code).toBe(EXIT.OK);
    expect(piped.out).toContain(`  exp: ${iat} (2025-01-01T00:00:00.000Z, EXPIRED)\n`);
    const { privateKey } = await generateKeyPair('EdDSA');
    const forever = await new SignJWT({ sub: 'carol' }).setProtectedHeader({ alg: 'EdDSA' }).sign(privateKey);
    const implicit = await run(['token', 'inspect'], { stdin: Readable.from([`${forever}\n`]) });
    expect(implicit.code).toBe(EXIT.OK);
    expect(implicit.out).toContain('  sub: carol\nexpiry: none (no exp claim)\n');
  });

  it('--json prints {header, claims}; the warning goes to stderr', async () => {
    const { code, out, err } = await run(['token', 'inspect', '-', '--json'], { stdin: Readable.from([token]) });
    expect(code).toBe(EXIT.OK);
    expect(JSON.parse(out)).toEqual({
      header: { alg: 'ES256', kid: 'key-1', typ: 'at+jwt' },
      claims: { scope: 'orders:read', groups: ['admins', 'ops'], iss: 'https://idp.example/', sub: 'alice', aud: 'api://orders', iat, exp },
    });
    expect(err).toContain('NOT verified');
  });

  it('a malformed token exits 3 and is not echoed, with or without --json', async () => {
    const [header, , signature] = token.split('.');
    const cases = ['not-a-jwt', `${header ?? ''}.%%%.${signature ?? ''}`, `${header ?? ''}.${Buffer.from('[1,2]').toString('base64url')}.${signature ?? ''}`, `e30.e30`];
    for (const bad of cases) {
      for (const json of [[], ['--json']]) {
        const { code, out, err } = await run(['token', 'inspect', ...json], { stdin: Readable.from([bad]) });
        expect(code, bad).toBe(EXIT.INVALID_INPUT);
        expect(out + err).not.toContain(bad);
        if (json.length > 0) expect(JSON.parse(out)).toMatchObject({ error: { code: 'ERR_CLI_TOKEN_MALFORMED' } });
      }
    }
  });

  it('an empty input or a missing file exits 3; no stdin at all is a usage error', async () => {
    expect((await run(['token', 'inspect'], { stdin: Readable.from(['\n']) })).code).toBe(EXIT.INVALID_INPUT);
    expect((await run(['token', 'inspect', 'missing.jwt'], { cwd: dir })).code).toBe(EXIT.INVALID_INPUT);
    expect((await run(['token', 'inspect'])).code).toBe(EXIT.USAGE);
  });
});

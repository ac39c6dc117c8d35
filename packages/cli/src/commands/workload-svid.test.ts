/** Tests for `workload svid`: read the SVID, write PEM files, get a JWT-SVID, from a Workload API on a real socket. */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VerityError } from '@verity/core';
import { serveWorkloadApi, type TrustBundle, type WorkloadApiServer, type X509Svid } from '@verity/workload';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createFakeAgent, type FakeAgent } from '../../../workload/src/agent-test-helpers.js';
import { makeSvid, makeTrustDomain } from '../../../workload/src/test-helpers.js';
import { EXIT } from '../errors.js';
import { run } from '../test-helpers.js';

const ID = 'spiffe://acme.test/billing';
let bundle: TrustBundle;
let svid: X509Svid;
let dir: string;
let socket: string;
let agent: FakeAgent;
let api: WorkloadApiServer | undefined;

beforeAll(async () => {
  const domain = await makeTrustDomain('acme.test');
  bundle = domain.bundle;
  svid = await makeSvid(domain.authority, ID);
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-cli-svid-'));
  socket = join(dir, 'agent.sock');
  agent = createFakeAgent({ svid, bundle });
  api = await serveWorkloadApi({ socketPath: socket, agent });
});
afterEach(async () => {
  await api?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('verity workload svid', () => {
  it('prints the SPIFFE id and the expiry, never the key', async () => {
    const { code, out, err } = await run(['workload', 'svid', '--socket', 'agent.sock'], { cwd: dir });
    expect(code).toBe(EXIT.OK);
    expect(out).toBe(`${ID}\nexpires ${new Date(svid.expiresAtMs).toISOString()}\n`);
    expect(err).toBe('');
  });

  it('--out DIR writes the chain, the key (0600, replacing a wider old file) and the roots as PEM', async () => {
    const out = join(dir, 'certs');
    await mkdir(out);
    await writeFile(join(out, 'key.pem'), 'old', { mode: 0o644 });
    const result = await run(['workload', 'svid', '--socket', socket, '--out', out, '--json']);
    expect(result.code).toBe(EXIT.OK);
    const files = { svid: join(out, 'svid.pem'), key: join(out, 'key.pem'), bundle: join(out, 'bundle.pem') };
    expect(JSON.parse(result.out)).toEqual({ spiffe_id: ID, expires_at: new Date(svid.expiresAtMs).toISOString(), files });
    expect(result.out).not.toContain('PRIVATE KEY');
    expect((await stat(files.key)).mode & 0o777).toBe(0o600);
    const chain = await readFile(files.svid, 'utf8');
    expect(chain).toBe(svid.certChainPem.map((pem) => `${pem.trim()}\n`).join(''));
    const leaf = new X509Certificate(chain);
    expect(leaf.checkPrivateKey(createPrivateKey(await readFile(files.key, 'utf8')))).toBe(true);
    expect(new X509Certificate(await readFile(files.bundle, 'utf8')).toString()).toBe(new X509Certificate(bundle.x509Authorities[0] ?? '').toString());
  });

  it('--jwt-audience prints only the JWT-SVID on stdout; --json gives {token, expires_at}', async () => {
    const plain = await run(['workload', 'svid', '--socket', socket, '--jwt-audience', 'spiffe://acme.test/orders', '--jwt-audience', 'spiffe://acme.test/ledger']);
    expect(plain.code).toBe(EXIT.OK);
    expect(plain.out).toBe('jwt-for-spiffe://acme.test/orders,spiffe://acme.test/ledger\n');
    expect(plain.err).toMatch(/^JWT-SVID for spiffe:\/\/acme.test\/orders spiffe:\/\/acme.test\/ledger, expires \d{4}-/);
    expect(agent.jwtCalls).toEqual([['spiffe://acme.test/orders', 'spiffe://acme.test/ledger']]);
    const json = await run(['workload', 'svid', '--socket', socket, '--jwt-audience', 'aud', '--json']);
    expect(JSON.parse(json.out)).toMatchObject({ token: 'jwt-for-aud' });
  });

  it('exits 4 when no agent listens, and with the agent’s code when it has no SVID', async () => {
    const missing = await run(['workload', 'svid', '--socket', join(dir, 'none.sock'), '--json']);
    expect(missing.code).toBe(EXIT.SERVER);
    expect(JSON.parse(missing.out)).toMatchObject({ error: { code: 'ERR_CLI_UNREACHABLE' } });
    agent.set({ svid: null, error: new VerityError('ERR_SVID_EXPIRED', 'the SVID expired') });
    const expired = await run(['workload', 'svid', '--socket', socket]);
    expect([expired.code, expired.err]).toEqual([EXIT.AUTH, 'verity: the SVID expired\n']);
  });

  it('usage errors: no --socket, or --out together with --jwt-audience', async () => {
    expect((await run(['workload', 'svid'])).code).toBe(EXIT.USAGE);
    expect((await run(['workload', 'svid', '--socket', socket, '--out', dir, '--jwt-audience', 'a'])).code).toBe(EXIT.USAGE);
  });
});

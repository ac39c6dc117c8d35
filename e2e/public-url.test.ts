/**
 * The URLs Verity hands out (AuthZEN metadata, issuers, discovery) never follow a request's
 * `Host`: they are the configured public URL, else the listen address; forwarded headers count
 * only with `trustProxy`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';

type Server = Awaited<ReturnType<typeof startTestServer>>;
const servers: Server[] = [];

async function start(options: Parameters<typeof startTestServer>[0] = {}): Promise<Server> {
  const server = await startTestServer(options);
  servers.push(server);
  await server.admin.post('/admin/v1/tenants', { id: 'acme' });
  return server;
}

const get = async (server: Server, url: string, headers: Record<string, string> = {}) => (await server.app.inject({ method: 'GET', url, headers })).json() as Record<string, string>;
const HOSTILE = { host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' };

let plain: Server;
let behindProxy: Server;
let trusting: Server;

beforeAll(async () => {
  [plain, behindProxy, trusting] = await Promise.all([start(), start({ publicUrl: 'https://pdp.example.com/' }), start({ trustProxy: true })]);
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

describe('public URL', () => {
  it('without a public URL, metadata and issuers name the listen address, whatever Host says', async () => {
    for (const path of ['/.well-known/authzen-configuration', '/.well-known/authzen-configuration/tenants/acme']) {
      const metadata = await get(plain, path, HOSTILE);
      expect(JSON.stringify(metadata)).not.toContain('evil.example');
      expect(metadata.policy_decision_point).toMatch(new RegExp(`^${plain.url}(/tenants/acme)?$`));
    }
    const discovery = await get(plain, '/tenants/acme/.well-known/openid-configuration', HOSTILE);
    expect(discovery.issuer).toBe(`${plain.url}/tenants/acme`);
  });

  it('with --public-url, metadata, issuer and discovery all name it', async () => {
    expect((await get(behindProxy, '/.well-known/authzen-configuration', HOSTILE)).access_evaluation_endpoint).toBe('https://pdp.example.com/access/v1/evaluation');
    expect((await get(behindProxy, '/.well-known/authzen-configuration/tenants/acme', HOSTILE)).policy_decision_point).toBe('https://pdp.example.com/tenants/acme');
    const discovery = await get(behindProxy, '/tenants/acme/.well-known/openid-configuration', HOSTILE);
    expect(discovery).toMatchObject({ issuer: 'https://pdp.example.com/tenants/acme', token_endpoint: 'https://pdp.example.com/tenants/acme/oauth2/token' });
    expect(behindProxy.components.tokens.issuerUrl('acme')).toBe('https://pdp.example.com/tenants/acme');
  });

  it('honours X-Forwarded-Proto/Host for metadata only with trustProxy', async () => {
    const forwarded = { 'x-forwarded-host': 'pdp.example.com', 'x-forwarded-proto': 'https' };
    expect((await get(trusting, '/.well-known/authzen-configuration', forwarded)).policy_decision_point).toBe('https://pdp.example.com');
    expect((await get(plain, '/.well-known/authzen-configuration', forwarded)).policy_decision_point).toBe(plain.url);
    // Issuers stay fixed even then: a token's `iss` must not depend on who asked.
    expect((await get(trusting, '/tenants/acme/.well-known/openid-configuration', forwarded)).issuer).toBe(`${trusting.url}/tenants/acme`);
  });
});

/** Tests for the HTTP client: URL and token sources, error bodies mapped to exit codes. */
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from './errors.js';
import { run, startFakeServer, type FakeServer } from './test-helpers.js';

const TOKEN = 'vrt_secret_token_value';
let server: FakeServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function listWith(status: number, body: unknown, extra: string[] = []) {
  server = await startFakeServer({ 'GET /admin/v1/tenants': { status, body } });
  return run(['tenant', 'list', '--url', server.url, ...extra], { env: { VERITY_ADMIN_TOKEN: TOKEN } });
}

describe('client', () => {
  it('sends the token as a Bearer header and never prints it', async () => {
    const result = await listWith(401, { code: 'ERR_AUTH_INVALID', message: 'credential not accepted' });
    expect(server?.requests[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(result.code).toBe(EXIT.AUTH);
    expect(result.err).toContain('credential not accepted');
    expect(result.out + result.err).not.toContain(TOKEN);
  });

  it.each([
    [403, 'ERR_AUTH_FORBIDDEN', EXIT.AUTH],
    [404, 'ERR_TENANT_NOT_FOUND', EXIT.NOT_FOUND],
    [409, 'ERR_TENANT_EXISTS', EXIT.INVALID_INPUT],
    [422, 'ERR_POLICY_PARSE', EXIT.INVALID_INPUT],
    [500, 'ERR_INTERNAL', EXIT.SERVER],
    [503, 'ERR_STORE_UNAVAILABLE', EXIT.SERVER],
  ])('maps HTTP %i to its exit code', async (status, code, exit) => {
    const result = await listWith(status, { code, message: 'nope' }, ['--json']);
    expect(result.code).toBe(exit);
    expect(JSON.parse(result.out)).toEqual({ error: { code, message: 'nope', exitCode: exit, diagnostics: [] } });
  });

  it('copes with an error body that is not Verity JSON', async () => {
    const result = await listWith(502, '<html>bad gateway</html>');
    expect(result.code).toBe(EXIT.SERVER);
    expect(result.err).toContain('HTTP 502');
  });

  it('takes the URL from VERITY_URL, strips credentials from messages, and exits 4 when unreachable', async () => {
    server = await startFakeServer({});
    const dead = server.url;
    await server.close();
    server = undefined;
    const withUser = dead.replace('http://', 'http://user:pw@');
    const result = await run(['tenant', 'list'], { env: { VERITY_URL: withUser } });
    expect(result.code).toBe(EXIT.SERVER);
    expect(result.err).toContain(`cannot reach Verity at ${dead}`);
    expect(result.err).not.toContain('pw@');
  });

  it('--url overrides VERITY_URL; a bad URL is a usage error', async () => {
    server = await startFakeServer({ 'GET /admin/v1/tenants': { status: 200, body: { tenants: [] } } });
    const ok = await run(['tenant', 'list', '--url', `${server.url}/`], { env: { VERITY_URL: 'http://127.0.0.1:1' } });
    expect(ok.code).toBe(EXIT.OK);
    expect(ok.out).toContain('no tenants');
    expect(server.requests[0]?.headers.authorization).toBeUndefined();
    expect((await run(['tenant', 'list', '--url', 'ftp://x'])).code).toBe(EXIT.USAGE);
  });

  it('exits 130 when interrupted before the answer arrives', async () => {
    server = await startFakeServer({ 'GET /admin/v1/tenants': { status: 200, body: { tenants: [] } } });
    const controller = new AbortController();
    controller.abort();
    const result = await run(['tenant', 'list', '--url', server.url], { signal: controller.signal });
    expect(result).toMatchObject({ code: EXIT.INTERRUPTED, err: 'verity: interrupted\n' });
  });
});

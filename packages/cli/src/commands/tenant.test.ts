/** Tests for `tenant create` and `tenant list` against a recording server. */
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../errors.js';
import { run, startFakeServer, type FakeServer } from '../test-helpers.js';

let server: FakeServer | undefined;
afterEach(async () => {
  await server?.close();
});

const acme = { id: 'acme', name: 'Acme Corp', createdAt: '2025-01-01T00:00:00.000Z', activeVersion: 3, settings: {} };

describe('verity tenant', () => {
  it('create posts {id, name} and prints the tenant', async () => {
    server = await startFakeServer({ 'POST /admin/v1/tenants': ({ body }) => ({ status: 201, body: { ...acme, ...(body as object) } }) });
    const { code, out } = await run(['tenant', 'create', 'acme', '--name', 'Acme Corp', '--url', server.url]);
    expect(code).toBe(EXIT.OK);
    expect(out).toBe('created tenant acme\n');
    expect(server.requests[0]?.body).toEqual({ id: 'acme', name: 'Acme Corp' });
    expect(server.requests[0]?.headers['content-type']).toBe('application/json');
  });

  it('create without --name sends only the id; a conflict exits 3', async () => {
    server = await startFakeServer({ 'POST /admin/v1/tenants': { status: 409, body: { code: 'ERR_TENANT_EXISTS', message: 'tenant acme exists' } } });
    const { code, err } = await run(['tenant', 'create', 'acme', '--url', server.url]);
    expect(server.requests[0]?.body).toEqual({ id: 'acme' });
    expect(code).toBe(EXIT.INVALID_INPUT);
    expect(err).toContain('tenant acme exists');
  });

  it('list prints a table, or the answer with --json', async () => {
    server = await startFakeServer({ 'GET /admin/v1/tenants': { status: 200, body: { tenants: [acme, { ...acme, id: 'globex', activeVersion: null }] } } });
    const table = await run(['tenant', 'list', '--url', server.url]);
    expect(table.code).toBe(EXIT.OK);
    const lines = table.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+ACTIVE VERSION\s+CREATED$/);
    expect(lines[1]).toMatch(/^acme\s+Acme Corp\s+3\s+2025-01-01/);
    expect(lines[2]).toMatch(/^globex\s+Acme Corp\s+-\s+/);
    const json = await run(['tenant', 'list', '--json', '--url', server.url]);
    expect(JSON.parse(json.out)).toEqual({ tenants: [acme, { ...acme, id: 'globex', activeVersion: null }] });
  });
});

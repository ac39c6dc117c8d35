/**
 * Every case of the OpenID AuthZEN interop data, over real HTTP, each scenario loaded as its
 * own tenant from its policy-store folder in examples/ through the admin API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, createTenantFromFolder, examplePath, interopPath, readJson, startTestServer, type Client } from './helpers/verity.js';

interface Case<R, E> {
  request: R;
  expected: E;
}

let server: Awaited<ReturnType<typeof startTestServer>>;
let pdp: Client;

beforeAll(async () => {
  server = await startTestServer({ decisionAuth: 'open' });
  pdp = createClient(server.url, null);
  await createTenantFromFolder(server.admin, 'todo', examplePath('todo'));
  await createTenantFromFolder(server.admin, 'gateway', examplePath('gateway'));
  await createTenantFromFolder(server.admin, 'search', examplePath('search'));
});

afterAll(async () => {
  await server?.close();
});

describe('Todo (fine-grained)', async () => {
  const data = await readJson<{ evaluation: Case<unknown, boolean>[]; evaluations: Case<unknown, Array<{ decision: boolean }>>[] }>(
    interopPath('authzen-todo-backend/test/decisions-authorization-api-1_0-02.json'),
  );
  it('has the 40 single and 3 batch cases', () => {
    expect(data.evaluation).toHaveLength(40);
    expect(data.evaluations).toHaveLength(3);
  });
  it.each(data.evaluation.map((c, i) => [i, c] as const))('evaluation #%i', async (_i, c) => {
    const answer = await pdp.post('/tenants/todo/access/v1/evaluation', c.request);
    expect(answer.status).toBe(200);
    expect(answer.body.decision).toBe(c.expected);
  });
  it.each(data.evaluations.map((c, i) => [i, c] as const))('evaluations #%i (exact JSON)', async (_i, c) => {
    const answer = await pdp.post('/tenants/todo/access/v1/evaluations', c.request);
    expect(answer.status).toBe(200);
    expect(answer.body.evaluations).toStrictEqual(c.expected);
  });
});

describe('API gateway (medium-grained)', async () => {
  const data = await readJson<{ evaluation: Case<unknown, boolean>[] }>(interopPath('authzen-api-gateways/test-harness/test/decisions.json'));
  it('has the 25 cases', () => expect(data.evaluation).toHaveLength(25));
  it.each(data.evaluation.map((c, i) => [i, c] as const))('evaluation #%i', async (_i, c) => {
    const answer = await pdp.post('/tenants/gateway/access/v1/evaluation', c.request);
    expect(answer.status).toBe(200);
    expect(answer.body.decision).toBe(c.expected);
  });
});

/** Follow next_token to the end with a small page size, so paging is exercised too. */
async function searchAll(kind: string, request: Record<string, unknown>): Promise<unknown[]> {
  const results: unknown[] = [];
  let token: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const answer = await pdp.post(`/tenants/search/access/v1/search/${kind}`, { ...request, page: { limit: 4, ...(token ? { next_token: token } : {}) } });
    expect(answer.status).toBe(200);
    results.push(...answer.body.results);
    token = answer.body.page.next_token;
    if (!token) return results;
  }
  throw new Error('search did not finish paging');
}

const key = (item: unknown) => JSON.stringify(item);

describe.each([
  ['subject', 60],
  ['resource', 18],
  ['action', 120],
] as const)('search/%s', async (kind, count) => {
  const data = await readJson<{ evaluation: Case<Record<string, unknown>, { results: unknown[] }>[] }>(interopPath(`authzen-search-demo/test/${kind}/results.json`));
  it(`has the ${count} cases`, () => expect(data.evaluation).toHaveLength(count));
  it.each(data.evaluation.map((c, i) => [i, c] as const))('case #%i (as a set)', async (_i, c) => {
    const results = await searchAll(kind, c.request);
    expect(results.map(key).sort()).toEqual(c.expected.results.map(key).sort());
  });
});

describe('search paging', () => {
  it('answers no match with results: [] and rejects a token from another search', async () => {
    const none = await pdp.post('/tenants/search/access/v1/search/resource', { subject: { type: 'user', id: 'nobody' }, action: { name: 'delete' }, resource: { type: 'record' } });
    expect(none.body).toEqual({ results: [], page: { next_token: '' } });
    const first = await pdp.post('/tenants/search/access/v1/search/resource', { subject: { type: 'user', id: 'alice' }, action: { name: 'view' }, resource: { type: 'record' }, page: { limit: 2 } });
    expect(first.body.results).toHaveLength(2);
    const misuse = await pdp.post('/tenants/search/access/v1/search/resource', { subject: { type: 'user', id: 'bob' }, action: { name: 'view' }, resource: { type: 'record' }, page: { next_token: first.body.page.next_token } });
    expect(misuse.status).toBe(400);
    expect(misuse.body.code).toBe('ERR_SEARCH_INVALID_TOKEN');
  });
});

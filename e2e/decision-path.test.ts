/**
 * The decision path's security findings, each as the input that was reported and as its
 * family's invariant: never an allow Cedar would not give, never one tenant breaking another.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { createLocalDecider, MAX_SEARCH_CANDIDATES_PER_PAGE, parseEvaluationRequest, type Entity } from '@verity/core';
import { sharedCedarEngine } from '@verity/core/cedar';
import { createLocalDecisionSource } from '@verity/enforce';
import { ADMIN_TOKEN, createClient, startTestServer, type Client } from './helpers/verity.js';
import { API_AUDIENCE, startTestIssuer, type TestIssuer } from './helpers/oidc-issuer.js';

let server: Awaited<ReturnType<typeof startTestServer>>;
let pdp: Client;

beforeAll(async () => {
  server = await startTestServer({ decisionAuth: 'open' });
  pdp = createClient(server.url, null);
});

afterAll(async () => {
  await server?.close();
});

async function tenant(id: string, files: Record<string, string>, extra: { schema?: string; entities?: unknown[]; validationMode?: string } = {}): Promise<void> {
  expect((await server.admin.post('/admin/v1/tenants', { id })).status).toBe(201);
  const pushed = await server.admin.post(`/admin/v1/tenants/${id}/policies`, { files, ...(extra.schema ? { schema: extra.schema, validationMode: extra.validationMode ?? 'strict' } : {}) });
  expect(pushed.status, JSON.stringify(pushed.body)).toBe(201);
  if (extra.entities) {
    const imported = await server.admin.request('PUT', `/admin/v1/tenants/${id}/entities`, { entities: extra.entities, mode: 'replace' });
    expect(imported.status, JSON.stringify(imported.body)).toBe(200);
  }
}

const evaluate = (t: string, body: unknown) => pdp.post(`/tenants/${t}/access/v1/evaluation`, body);
const isAuthorized = (t: string, body: unknown) => pdp.post(`/tenants/${t}/cedar/v1/is-authorized`, body);
const user = (id: string, properties?: Record<string, unknown>) => ({ type: 'User', id, ...(properties ? { properties } : {}) });

describe('engine isolation between tenants (items 1 and 2)', () => {
  const chain = (n: number) => `permit(principal, action, resource) when { context${'.a'.repeat(n)} == 1 };`;
  const ite = (n: number) => {
    let e = 'true';
    for (let i = 0; i < n; i++) e = `if context.x then ${e} else false`;
    return `permit(principal, action, resource) when { ${e} };`;
  };
  const ors = (n: number) => `permit(principal, action, resource) when { ${Array.from({ length: n }, (_, i) => `context.k == ${i}`).join(' || ')} };`;

  beforeAll(async () => {
    await tenant('calm', { 'p.cedar': 'permit(principal == User::"alice", action, resource);' });
  });

  async function calmStillDecides(): Promise<void> {
    const answer = await evaluate('calm', { subject: user('alice'), action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } });
    expect(answer.status).toBe(200);
    expect(answer.body.decision).toBe(true);
    expect((await server.admin.get('/admin/v1/tenants/calm/policies/versions')).status).toBe(200);
    expect((await pdp.get('/healthz')).status).toBe(200);
    expect((await pdp.get('/readyz')).status).toBe(200);
  }

  it.each([
    ['member-chain-150', chain(150), { a: 1 }],
    ['member-chain-240', chain(240), {}],
    ['if-then-else-120', ite(120), { x: true }],
    ['or-chain-240', ors(240), { k: 3 }],
  ])('a deep policy (%s) is refused at push or decided, and never breaks another tenant', async (name, policy, context) => {
    const id = `deep-${name}`;
    expect((await server.admin.post('/admin/v1/tenants', { id })).status).toBe(201);
    const pushed = await server.admin.post(`/admin/v1/tenants/${id}/policies`, { files: { 'p.cedar': policy } });
    if (pushed.status === 201) {
      for (let i = 0; i < 6; i++) {
        const answer = await evaluate(id, { subject: user('u'), action: { name: 'read' }, resource: { type: 'Doc', id: 'd' }, context });
        expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(500);
      }
    } else {
      expect(pushed.status).toBe(422);
      expect(pushed.body.code).toBe('ERR_POLICY_TOO_COMPLEX');
      expect(pushed.body.message).toMatch(/MAX_EXPRESSION_DEPTH|MAX_OPERATORS_PER_POLICY/);
      expect(pushed.body.diagnostics[0].positions[0]).toMatchObject({ source: 'p.cedar', line: 1 });
    }
    await calmStillDecides();
  });

  it('a like pattern that would take seconds is refused with a limit, not evaluated', async () => {
    const pattern = `*${'a'.repeat(50_000)}b`;
    expect((await server.admin.post('/admin/v1/tenants', { id: 'likes' })).status).toBe(201);
    const pushed = await server.admin.post('/admin/v1/tenants/likes/policies', { files: { 'p.cedar': `permit(principal, action, resource) when { context.s like "${pattern}" };` } });
    expect(pushed.status).toBe(422);
    expect(pushed.body.code).toBe('ERR_POLICY_TOO_COMPLEX');
    expect(pushed.body.message).toMatch(/MAX_PATTERN_LENGTH/);
    // Within the pattern limit, a long enough string is refused per request instead.
    const ok = await server.admin.post('/admin/v1/tenants/likes/policies', { files: { 'p.cedar': `permit(principal, action, resource) when { context.s like "*${'a'.repeat(1000)}b" };` } });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    const answer = await evaluate('likes', { subject: user('u'), action: { name: 'read' }, resource: { type: 'Doc', id: 'd' }, context: { s: 'a'.repeat(150_000) } });
    expect(answer.status).toBe(400);
    expect(answer.body.code).toBe('ERR_DECISION_LIMIT');
    expect(answer.body.message).toMatch(/MAX_LIKE_WORK/);
    await calmStillDecides();
  });

  it('a batch shares one engine-time budget: items past it are answered in place with the limit, never the whole engine', async () => {
    // Each item sits near MAX_LIKE_WORK (about 10 ms of engine time): a thousand of them would
    // hold the engine for seconds. Found by an outsider attack.
    expect((await server.admin.post('/admin/v1/tenants', { id: 'batchcost' })).status).toBe(201);
    const pushed = await server.admin.post('/admin/v1/tenants/batchcost/policies', { files: { 'p.cedar': `permit(principal, action, resource) when { context.s like "*${'a'.repeat(998)}b" };` } });
    expect(pushed.status, JSON.stringify(pushed.body)).toBe(201);
    const item = { subject: user('u'), action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } };
    const answer = await pdp.post('/tenants/batchcost/access/v1/evaluations', { context: { s: `${'a'.repeat(3_900)}b` }, evaluations: Array.from({ length: 200 }, () => item) });
    expect(answer.status, JSON.stringify(answer.body).slice(0, 300)).toBe(200);
    const items = answer.body.evaluations as Array<{ decision: boolean; context?: { error?: { code: string } } }>;
    expect(items).toHaveLength(200);
    const decided = items.filter((e) => e.context?.error === undefined);
    const cut = items.filter((e) => e.context?.error?.code === 'ERR_DECISION_LIMIT');
    expect(decided.length).toBeGreaterThan(0);
    expect(decided.every((e) => e.decision === true)).toBe(true);
    expect(cut.length).toBeGreaterThan(100);
    expect(cut.every((e) => e.decision === false)).toBe(true);
    expect(decided.length + cut.length).toBe(200);
    // An item with a value Cedar has no type for is answered in place too, not as a failed batch.
    const mixed = await pdp.post('/tenants/calm/access/v1/evaluations', { evaluations: [{ subject: user('alice'), action: { name: 'read' }, resource: { type: 'Doc', id: 'd' }, context: { n: 0.123456 } }, { subject: user('alice'), action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } }] });
    expect(mixed.status, JSON.stringify(mixed.body)).toBe(200);
    expect(mixed.body.evaluations[0]).toMatchObject({ decision: false, context: { error: { status: 400 } } });
    expect(mixed.body.evaluations[1]).toEqual({ decision: true });
    await calmStillDecides();
  });
});

describe('the entity slice is never silently cut (item 3)', () => {
  const ENTITIES = [
    { uid: { type: 'User', id: 'mallory' }, attrs: {}, parents: [{ type: 'Group', id: 'g1' }] },
    { uid: { type: 'Group', id: 'g1' }, attrs: {}, parents: [{ type: 'Group', id: 'g2' }] },
    { uid: { type: 'Group', id: 'g2' }, attrs: {}, parents: [{ type: 'Group', id: 'banned' }] },
    { uid: { type: 'Group', id: 'banned' }, attrs: {}, parents: [] },
  ];
  // References to stored entities: each one is a real member of the slice.
  const refs = Array.from({ length: 2000 }, (_, i) => ({ __entity: { type: 'Doc', id: `r${i}` } }));
  const referenced = refs.map((ref) => ({ uid: ref.__entity, attrs: {}, parents: [] }));

  beforeAll(async () => {
    await tenant('bans', { 'p.cedar': '@id("all") permit(principal, action, resource);\n@id("ban") forbid(principal in Group::"banned", action, resource);' }, {
      entities: [...ENTITIES, ...referenced, { uid: { type: 'Doc', id: 'wide' }, attrs: { refs }, parents: [] }],
    });
  });

  it('denies the banned user on an ordinary resource', async () => {
    const answer = await evaluate('bans', { subject: user('mallory'), action: { name: 'read' }, resource: { type: 'Doc', id: 'plain' } });
    expect(answer.body.decision).toBe(false);
  });

  it('never allows when the resource carries 2,000 references in properties', async () => {
    const answer = await evaluate('bans', { subject: user('mallory'), action: { name: 'read' }, resource: { type: 'Doc', id: 'x', properties: { refs } } });
    expect(answer.body.decision).not.toBe(true);
    if (answer.status !== 200) expect(answer.body.code).toBe('ERR_DECISION_LIMIT');
  });

  it('never allows when the stored resource carries 2,000 references, and search does not list it', async () => {
    const answer = await evaluate('bans', { subject: user('mallory'), action: { name: 'read' }, resource: { type: 'Doc', id: 'wide' } });
    expect(answer.body.decision).not.toBe(true);
    const search = await pdp.post('/tenants/bans/access/v1/search/resource', { subject: user('mallory'), action: { name: 'read' }, resource: { type: 'Doc' } });
    if (search.status === 200) expect(search.body.results).not.toContainEqual({ type: 'Doc', id: 'wide' });
    else expect(search.body.code).toBe('ERR_DECISION_LIMIT');
  });
});

describe("the tenant's schema takes part in every decision (item 4)", () => {
  const SCHEMA = `entity User; entity Doc { owner: User }; action readOnly; action view in [readOnly] appliesTo { principal: User, resource: Doc }; action edit appliesTo { principal: User, resource: Doc };`;

  beforeAll(async () => {
    await tenant(
      'schema',
      {
        'p.cedar': [
          '@id("readers") permit(principal, action in Action::"readOnly", resource);',
          '@id("owners") permit(principal, action == Action::"edit", resource) when { resource.owner == principal };',
        ].join('\n'),
      },
      {
        schema: SCHEMA,
        entities: [
          { uid: { type: 'User', id: 'ann' }, attrs: {}, parents: [] },
          { uid: { type: 'Doc', id: 'd1' }, attrs: { owner: { type: 'User', id: 'ann' } }, parents: [] },
        ],
      },
    );
    await tenant('schema-forbid', { 'p.cedar': '@id("all") permit(principal, action, resource);\n@id("no-reads") forbid(principal, action in Action::"readOnly", resource);' }, { schema: SCHEMA });
  });

  it('takes action groups from the schema', async () => {
    const answer = await evaluate('schema', { subject: user('ann'), action: { name: 'view' }, resource: { type: 'Doc', id: 'd1' } });
    expect(answer.body.decision).toBe(true);
    expect(answer.body.context.reason_admin.determining_policies).toEqual(['readers']);
  });

  it('applies a forbid on a schema-declared action group', async () => {
    const answer = await evaluate('schema-forbid', { subject: user('ann'), action: { name: 'view' }, resource: { type: 'Doc', id: 'd1' } });
    expect(answer.body.decision).toBe(false);
    expect(answer.body.context.reason_admin.determining_policies).toEqual(['no-reads']);
  });

  it('reads a plain {type, id} attribute as the entity reference the schema declares', async () => {
    const answer = await evaluate('schema', { subject: user('ann'), action: { name: 'edit' }, resource: { type: 'Doc', id: 'd1' } });
    expect(answer.body.decision).toBe(true);
  });

  it('finds schema-grouped actions in action search', async () => {
    const answer = await pdp.post('/tenants/schema/access/v1/search/action', { subject: user('ann'), resource: { type: 'Doc', id: 'd1' } });
    expect(answer.body.results).toContainEqual({ name: 'view' });
  });
});

describe('request data (items 5 and 6)', () => {
  beforeAll(async () => {
    await tenant('levels', { 'p.cedar': '@id("senior") permit(principal, action, resource) when { principal.level > 3 };' });
  });

  it('refuses duplicate entities in a Cedar-native request', async () => {
    const answer = await isAuthorized('levels', {
      principal: { type: 'User', id: 'u' },
      action: { type: 'Action', id: 'read' },
      resource: { type: 'Doc', id: 'd' },
      entities: [
        { uid: { type: 'User', id: 'u' }, attrs: { level: 1 }, parents: [] },
        { uid: { type: 'User', id: 'u' }, attrs: { level: 5 }, parents: [] },
      ],
    });
    expect(answer.status).toBe(400);
    expect(answer.body.code).toBe('ERR_DECISION_DUPLICATE_ENTITY');
  });

  it('refuses duplicate entities in a Cedar-native batch as a whole', async () => {
    const answer = await pdp.post('/tenants/levels/cedar/v1/batch-is-authorized', {
      requests: [{ principal: { type: 'User', id: 'u' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: 'd' } }],
      entities: [
        { uid: { type: 'User', id: 'u' }, attrs: { level: 1 }, parents: [] },
        { uid: { type: 'User', id: 'u' }, attrs: { level: 5 }, parents: [] },
      ],
    });
    expect(answer.status).toBe(400);
    expect(answer.body.code).toBe('ERR_DECISION_DUPLICATE_ENTITY');
  });
});

describe('token-in decisions keep the verified principal (items 6 and 7)', () => {
  let idp: TestIssuer;
  const secrets: Record<string, string> = {};

  beforeAll(async () => {
    idp = await startTestIssuer();
    await tenant(
      'tokens',
      {
        'p.cedar': [
          '@id("hr") permit(principal, action == Action::"payroll", resource) when { principal has department && principal.department == "hr" };',
          '@id("alice-user") permit(principal == User::"alice", action == Action::"user-only", resource);',
          '@id("alice-service") permit(principal == Service::"alice", action == Action::"service-only", resource);',
        ].join('\n'),
      },
      { entities: [{ uid: { type: 'User', id: 'alice' }, attrs: { department: 'eng' }, parents: [] }] },
    );
    const source = await server.admin.request('PUT', '/admin/v1/tenants/tokens/identity-sources/corp', {
      issuer: idp.issuer,
      keys: { kind: 'inline', keys: [idp.publicJwk] },
      audiences: [API_AUDIENCE],
      claims: { principalType: 'User' },
    });
    expect(source.status, JSON.stringify(source.body)).toBe(200);
    const client = await server.admin.request('PUT', '/admin/v1/tenants/tokens/clients/svc', { principal: { type: 'Service', id: 'alice' }, audiences: ['api'], scopes: ['read'], secret: true });
    expect(client.status, JSON.stringify(client.body)).toBe(200);
    secrets.svc = client.body.clientSecret;
  });

  afterAll(async () => {
    await idp?.close();
  });

  const userToken = () =>
    new SignJWT({ scope: 'read' })
      .setProtectedHeader({ alg: 'RS256', kid: idp.kid })
      .setIssuer(idp.issuer)
      .setAudience(API_AUDIENCE)
      .setSubject('alice')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(idp.privateKey);

  it('never lets resource properties rewrite the token principal', async () => {
    const token = await userToken();
    const answer = await evaluate('tokens', { token, action: { name: 'payroll' }, resource: { type: 'User', id: 'alice', properties: { department: 'hr' } } });
    expect(answer.body.decision).not.toBe(true);
    if (answer.status !== 200) expect(answer.body.code).toBe('ERR_DECISION_INVALID_REQUEST');
  });

  it('decides a client-credentials token as the client principal it was registered with', async () => {
    const issued = await fetch(`${server.url}/tenants/tokens/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`svc:${secrets.svc}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', audience: 'api' }).toString(),
    });
    const token = ((await issued.json()) as { access_token: string }).access_token;
    const asUser = await evaluate('tokens', { token, audience: 'api', action: { name: 'user-only' }, resource: { type: 'Doc', id: 'd' } });
    expect(asUser.body.decision).toBe(false);
    const asService = await evaluate('tokens', { token, audience: 'api', action: { name: 'service-only' }, resource: { type: 'Doc', id: 'd' } });
    expect(asService.body.decision).toBe(true);
  });
});

describe('entities named by policies and by the context (item 8)', () => {
  beforeAll(async () => {
    await tenant(
      'named',
      {
        'p.cedar': [
          '@id("all") permit(principal, action, resource);',
          '@id("banned-members") forbid(principal, action, resource) when { Group::"banned".members.contains(principal) };',
          '@id("flagged") forbid(principal, action == Action::"tag", resource) when { Flag::"f".hasTag("on") && Flag::"f".getTag("on") };',
          '@id("has-attr") forbid(principal, action == Action::"has", resource) when { Flag::"f" has closed };',
          '@id("ctx") forbid(principal, action == Action::"ctx", resource) when { context.group.members.contains(principal) };',
        ].join('\n'),
      },
      {
        entities: [
          { uid: { type: 'Group', id: 'banned' }, attrs: { members: [{ __entity: { type: 'User', id: 'mallory' } }] }, parents: [] },
          { uid: { type: 'Flag', id: 'f' }, attrs: { closed: true }, parents: [], tags: { on: true } },
        ],
      },
    );
  });

  it.each([
    ['read', {}, 'banned-members'],
    ['tag', {}, 'flagged'],
    ['has', {}, 'has-attr'],
    ['ctx', { group: { __entity: { type: 'Group', id: 'banned' } } }, 'ctx'],
  ])('loads what a forbid observes (%s)', async (action, context, forbid) => {
    const answer = await evaluate('named', { subject: user('mallory'), action: { name: action }, resource: { type: 'Doc', id: 'd' }, context });
    expect(answer.body.decision).toBe(false);
    expect(answer.body.context.reason_admin.determining_policies).toContain(forbid);
  });
});

describe('values keep their Cedar meaning (item 9)', () => {
  beforeAll(async () => {
    await tenant('values', { 'p.cedar': '@id("big") permit(principal, action, resource) when { principal.n == 9007199254740993 && context.m == 9223372036854775807 };' }, {
      entities: [
        { uid: { type: 'User', id: '' }, attrs: { n: 9007199254740993n }, parents: [] },
        { uid: { type: 'User', id: 'near' }, attrs: { n: 9007199254740992n }, parents: [] },
      ],
    });
  });

  it('accepts empty entity ids and keeps 64-bit integers exact', async () => {
    const body = (id: string) => ({ principal: { type: 'User', id }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: '' }, context: { m: 9223372036854775807n } });
    const exact = await isAuthorized('values', body(''));
    expect(exact.status, JSON.stringify(exact.body)).toBe(200);
    expect(exact.body.decision).toBe('allow');
    const near = await isAuthorized('values', body('near'));
    expect(near.body.decision).toBe('deny');
  });
});

describe('AuthZEN (item 10)', () => {
  beforeAll(async () => {
    await tenant('az', { 'p.cedar': '@id("all") permit(principal, action, resource);' }, {
      entities: Array.from({ length: 5 }, (_, i) => ({ uid: { type: 'Doc', id: `d${i}` }, attrs: {}, parents: [] })),
    });
  });

  it('answers evaluations without an evaluations array as a single evaluation', async () => {
    const answer = await pdp.post('/tenants/az/access/v1/evaluations', { subject: user('u'), action: { name: 'read' }, resource: { type: 'Doc', id: 'd0' } });
    expect(answer.status).toBe(200);
    expect(answer.body.decision).toBe(true);
  });

  it('decides at most MAX_SEARCH_CANDIDATES_PER_PAGE candidates per search request, and goes on by next_token', async () => {
    const needle = `x${String(MAX_SEARCH_CANDIDATES_PER_PAGE + 100).padStart(5, '0')}`;
    const docs = Array.from({ length: MAX_SEARCH_CANDIDATES_PER_PAGE + 200 }, (_, i) => ({ uid: { type: 'Doc', id: `x${String(i).padStart(5, '0')}` }, attrs: {}, parents: [] }));
    await tenant('needle', { 'p.cedar': `@id("one") permit(principal, action, resource == Doc::"${needle}");` }, { entities: docs });
    const body = (token?: string) => ({ subject: user('u'), action: { name: 'read' }, resource: { type: 'Doc' }, page: { limit: 10, ...(token ? { next_token: token } : {}) } });
    // The needle lies past the first page's candidate cap: the first page is empty with a
    // token (the cap, or on a loaded machine the page's time budget, stops it); following
    // the tokens finds exactly the needle, and the last page ends the search.
    const first = await pdp.post('/tenants/needle/access/v1/search/resource', body());
    expect(first.body.results).toEqual([]);
    expect(first.body.page.next_token).not.toBe('');
    const found: unknown[] = [];
    let token: string = first.body.page.next_token;
    for (let pages = 1; token !== ''; pages++) {
      expect(pages).toBeLessThan(MAX_SEARCH_CANDIDATES_PER_PAGE + 200);
      const next = await pdp.post('/tenants/needle/access/v1/search/resource', body(token));
      expect(next.status).toBe(200);
      found.push(...next.body.results);
      token = next.body.page.next_token;
    }
    expect(found).toEqual([{ type: 'Doc', id: needle }]);
  });

  it('binds a search page token to the page limit it was issued for', async () => {
    const first = await pdp.post('/tenants/az/access/v1/search/resource', { subject: user('u'), action: { name: 'read' }, resource: { type: 'Doc' }, page: { limit: 2 } });
    expect(first.body.page.next_token).not.toBe('');
    const other = await pdp.post('/tenants/az/access/v1/search/resource', { subject: user('u'), action: { name: 'read' }, resource: { type: 'Doc' }, page: { limit: 3, next_token: first.body.page.next_token } });
    expect(other.status).toBe(400);
    expect(other.body.code).toBe('ERR_SEARCH_INVALID_TOKEN');
  });

  it('binds a search page token to the tenant it was issued for', async () => {
    // Two tenants with the same request and the same version number: the token of one is no
    // token of the other.
    const files = { 'p.cedar': '@id("all") permit(principal, action, resource);' };
    const docs = Array.from({ length: 3 }, (_, i) => ({ uid: { type: 'Doc', id: `t${i}` }, attrs: {}, parents: [] }));
    await tenant('twin-a', files, { entities: docs });
    await tenant('twin-b', files, { entities: docs });
    const body = { subject: user('u'), action: { name: 'read' }, resource: { type: 'Doc' }, page: { limit: 1 } };
    const first = await pdp.post('/tenants/twin-a/access/v1/search/resource', body);
    expect(first.body.page.next_token).not.toBe('');
    const other = await pdp.post('/tenants/twin-b/access/v1/search/resource', { ...body, page: { limit: 1, next_token: first.body.page.next_token } });
    expect(other.status).toBe(400);
    expect(other.body.code).toBe('ERR_SEARCH_INVALID_TOKEN');
  });
});

describe('every path decides alike: the PDP, the SDK local mode and policy test', () => {
  const SCHEMA = `entity Group; entity User in [Group] { n: Long }; entity Doc { owner: User };
action readOnly; action view in [readOnly] appliesTo { principal: User, resource: Doc };`;
  const POLICIES = [
    '@id("readers") permit(principal, action in Action::"readOnly", resource) when { principal.n == 9007199254740993 };',
    '@id("banned") forbid(principal, action, resource) when { Group::"banned".members.contains(principal) };',
  ].join('\n');
  const ENTITIES: Entity[] = [
    { uid: { type: 'User', id: 'exact' }, attrs: { n: 9007199254740993n }, parents: [] },
    { uid: { type: 'User', id: 'rounded' }, attrs: { n: 9007199254740992n }, parents: [] },
    { uid: { type: 'User', id: 'mallory' }, attrs: { n: 9007199254740993n }, parents: [] },
    { uid: { type: 'Group', id: 'banned' }, attrs: { members: [{ type: 'User', id: 'mallory' }] } as never, parents: [] },
    { uid: { type: 'Doc', id: 'd' }, attrs: { owner: { type: 'User', id: 'exact' } } as never, parents: [] },
  ];
  const SCHEMA_WITH_MEMBERS = SCHEMA.replace('entity Group;', 'entity Group { members: Set<User> };');

  beforeAll(async () => {
    await tenant('paths', { 'p.cedar': POLICIES }, { schema: SCHEMA_WITH_MEMBERS, entities: ENTITIES });
  });

  it.each([
    ['exact', true],
    ['rounded', false],
    ['mallory', false],
  ])('%s: schema action group, exact 64-bit integers, a policy-named group read through the schema', async (who, allowed) => {
    const request = { subject: user(who), action: { name: 'view' }, resource: { type: 'Doc', id: 'd' } };
    const remote = await evaluate('paths', request);
    expect(remote.status, JSON.stringify(remote.body)).toBe(200);
    expect(remote.body.decision).toBe(allowed);

    const { thumbprints } = (await server.admin.get('/tenants/paths/bundle/keys')).body as { thumbprints: string[] };
    const source = createLocalDecisionSource({ url: server.url, tenant: 'paths', credential: ADMIN_TOKEN, bundleKeyThumbprints: thumbprints, follow: false });
    try {
      await source.ready;
      const local = await source.decide({ tenant: 'paths', subject: user(who), action: 'view', resource: { type: 'Doc', id: 'd' }, context: {}, requestId: 'paths', tier: 'test' });
      expect(local.decision === 'allow').toBe(allowed);
      expect(local.reasons).toEqual(remote.body.context.reason_admin.determining_policies);
    } finally {
      await source.close();
    }

    const content = (await server.admin.get('/admin/v1/tenants/paths/policies/versions/1')).body.content;
    const decider = await createLocalDecider({ engine: sharedCedarEngine(), content, entities: ENTITIES });
    const tested = await decider.evaluate(parseEvaluationRequest(request));
    expect(tested.decision === 'allow').toBe(allowed);
    expect(tested.reasons).toEqual(remote.body.context.reason_admin.determining_policies);
  });
});

/**
 * Bad input never hurts the server. One real server over HTTP gets a few thousand random,
 * mutated, malformed, oversized and deeply nested bodies at every POST/PUT/PATCH endpoint:
 * decisions, the admin API (tenants, settings, credentials, policies, entities, identity
 * sources, clients, revocations, audit checkpoints), the token service (form bodies), the PEP
 * audit ingest and the gateway endpoints (hostile forwarded headers), each with the credential
 * it needs. Every answer must be a 2xx or a 4xx (never a 5xx, a crash or a hang); every 4xx is
 * `{code, message}` with a stable code from core's ERROR_CODES and its status; every answer has
 * an `x-request-id`. Rejected writes leave nothing behind: the demo and `_system` tenants'
 * policy versions, active version and entities, demo's identity sources and clients, the tenant
 * list and the credential list are compared before and after.
 *
 * Deterministic: set VERITY_FUZZ_SEED to replay a run (the seed is printed on failure);
 * VERITY_FUZZ_PER_ROUTE changes how many bodies each route gets.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '@verity/core';
import { startServer, type RunningServer } from '@verity/server';
import { clone, isPlainObject, mutate, nested, randomJson, RawNumber, Rng, toJsonText, TooLarge, type FuzzValue } from './helpers/random-json.js';
import { testLogStream } from './helpers/verity.js';

const SEED = Number(process.env.VERITY_FUZZ_SEED ?? 0x5eed_f022);
const PER_ROUTE = Number(process.env.VERITY_FUZZ_PER_ROUTE ?? 100);
const CONCURRENCY = 8;
const LOG = process.env.VERITY_FUZZ_LOG;
const REQUEST_TIMEOUT_MS = 15_000;
const ADMIN_TOKEN = `vrt_${randomBytes(32).toString('base64url')}`;
const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` };
const MIB = 1024 * 1024;
/** The body limit of decisions and of admin routes without a larger one (the server's maxBodyBytes). */
const DECISION_LIMIT = 512 * 1024;
const UNKNOWN_TENANT = 'no-such-tenant';
/** A tenant the fuzz may change (settings, identity sources, clients, revocations): it is left out of the compared state. */
const SCRATCH = 'fuzz-scratch';
const CODE = /^ERR_[A-Z_]+$/;

const RICK = 'CiRmZDA2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs';
const BETH = 'CiRmZDM2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs';

interface DemoCase {
  request: FuzzValue;
}
const DEMO_REQUESTS = (JSON.parse(readFileSync(new URL('../examples/demo/tests/demo.json', import.meta.url), 'utf8')) as DemoCase[]).map((c) => c.request);

/** Policy texts Cedar must refuse to parse, whatever the validation mode. */
const UNPARSABLE_CEDAR = [
  'permit(',
  'permit(principal, action, resource)',
  'forbid(principal == , action, resource);',
  'permit(principal, action, resource) when { 1 + };',
  'hello world',
  'permit(principal, action, resource) when { resource.owner == };',
  'permit(principal, action, resource) unless {',
  'permit(principal in Role::, action, resource);',
  'permit(principal, action, resource);;',
  '@id("a" permit(principal, action, resource);',
  'permit(principal, action, resource) when { "unterminated };',
  `permit(principal, action, resource) when { ${'('.repeat(20)}true${')'.repeat(19)} };`,
];

/**
 * Unparsable Cedar nested deeply enough to exhaust the Cedar (WASM) parser's stack. Kept out
 * of the random pool and sent last (see the final describe): today they break the engine.
 */
const DEEP_CEDAR = [
  `permit(principal, action, resource) when { ${'('.repeat(300)}true${')'.repeat(300)} };`,
  `permit(principal, action, resource) when { ${'('.repeat(5000)}true${')'.repeat(5000)} };`,
  `permit(principal, action, resource) when { ${'['.repeat(5000)}1${']'.repeat(5000)} };`,
  `permit(principal, action, resource) when { ${'!'.repeat(20000)}true };`,
];

/** Policy texts that parse but may fail validation, and schemas that may not parse: random content. */
const ODD_CEDAR = [
  'permit(principal is NoSuchType, action, resource);',
  'permit(principal, action == Action::"nope", resource);',
  'permit(principal, action, resource) when { principal.nope == 1 };',
  'permit(principal, action, resource) when { 1 == "a" };',
  'permit(principal == ?principal, action, resource);',
  '@id("dup") permit(principal, action, resource); @id("dup") forbid(principal, action, resource);',
  '',
  '// only a comment',
];
const ODD_SCHEMAS = ['entity', 'entity Foo in [Bar];', 'action "x" appliesTo { principal: Nope };', 'namespace { }', '{}', '{"": {"entityTypes": 5}}', 'entity A; entity A;'];

// ---------------------------------------------------------------------------------------------
// HTTP

type Method = 'POST' | 'PUT' | 'PATCH';

interface Outgoing {
  method: Method | 'GET';
  path: string;
  contentType: string | null;
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** Send no admin token unless the headers carry one. */
  noAdmin?: boolean;
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

let server: RunningServer;

async function send(out: Outgoing): Promise<Answer> {
  const headers: Record<string, string> = out.noAdmin ? { ...out.headers } : { ...AUTH, ...out.headers };
  if (out.contentType !== null) headers['content-type'] = out.contentType;
  // A Buffer body keeps fetch from adding its own content type (a string would get text/plain).
  const body = out.body === undefined ? undefined : typeof out.body === 'string' ? Buffer.from(out.body, 'utf8') : out.body;
  const response = await fetch(`${server.url}${out.path}`, { method: out.method, headers, ...(body === undefined ? {} : { body }), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  send({ method: 'POST', path, contentType: 'application/json', body: JSON.stringify(body), headers });
const get = (path: string) => send({ method: 'GET', path, contentType: null });

/**
 * What every answer must look like; a list of what is wrong with this one (empty when fine).
 * `gateway`: the gateway endpoints' allow (200) and deny (403) have no body, by convention.
 */
function problemsOf(answer: Answer, sentRequestId: string | undefined, gateway = false): string[] {
  const problems: string[] = [];
  const requestId = answer.headers.get('x-request-id');
  if (!requestId) problems.push('no x-request-id header');
  else if (sentRequestId !== undefined && /^[\w.:@/+=-]{1,128}$/.test(sentRequestId) && requestId !== sentRequestId) problems.push(`x-request-id ${requestId} is not the one sent (${sentRequestId})`);
  if (answer.status >= 500) problems.push(`server error ${answer.status}`);
  else if (answer.status < 200 || (answer.status >= 300 && answer.status < 400)) problems.push(`unexpected status ${answer.status}`);
  if (gateway && (answer.status === 200 || answer.status === 403) && answer.text === '') return problems;
  if (answer.status >= 400) {
    const body = answer.json as { code?: unknown; message?: unknown } | undefined;
    if (!isPlainObject(body)) problems.push('error body is not a JSON object');
    else {
      if (typeof body.code !== 'string' || !CODE.test(body.code)) problems.push(`error code ${JSON.stringify(body.code)} is not ERR_…`);
      else if (!(body.code in ERROR_CODES)) problems.push(`error code ${body.code} is not in ERROR_CODES`);
      else if (ERROR_CODES[body.code as keyof typeof ERROR_CODES] !== answer.status) problems.push(`status ${answer.status} does not match ${body.code} (${ERROR_CODES[body.code as keyof typeof ERROR_CODES]})`);
      if (typeof body.message !== 'string' || body.message === '') problems.push('error message is not a non-empty string');
    }
  } else if (answer.status !== 204 && answer.json === undefined) problems.push('2xx body is not JSON');
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Routes, their valid bodies, and the poison that makes a write certain to fail

type Effect =
  /** Reads only (decisions write audit records, which are checked by audit/verify). */
  | 'none'
  /** Must never succeed: every body sent is made invalid (see `poison`), or the tenant is unknown. */
  | 'must-fail'
  /** May create a tenant; created ids are tracked and allowed in the tenant list afterwards. */
  | 'creates-tenant'
  /** May create a credential; created ids are tracked and allowed in the credential list afterwards. */
  | 'creates-credential'
  /** May revoke or rotate one of the fuzz's own victim credentials (their `revokedAt` may change). */
  | 'victim-credential'
  /** Writes only the scratch tenant (its settings, identity sources, clients, revocations; audit). */
  | 'scratch';

interface Route {
  name: string;
  method: Method;
  path: string;
  effect: Effect;
  /** The largest body the route accepts (512 KiB decisions, 32 MiB admin writes). */
  limit: number;
  valid(rng: Rng): FuzzValue;
  /** Make a body certain to be refused without changing what kind of body it is. */
  poison?(rng: Rng, body: FuzzValue): FuzzValue;
  /** The route's own headers (its credential, a gateway's forwarded request); the admin token otherwise. */
  headers?(rng: Rng): Record<string, string>;
  /** Bodies are mostly `application/x-www-form-urlencoded` (the OAuth endpoints); `valid` gives the fields. */
  form?: boolean;
  /** A gateway endpoint: allow and deny are 200 and 403 without a body. */
  gateway?: boolean;
  /** The share of VERITY_FUZZ_PER_ROUTE this route gets (default 1): routes added later get fewer, to keep the run short. */
  share?: number;
}

let tenantSerial = 0;

function authzenEntity(rng: Rng, kind: 'subject' | 'resource'): FuzzValue {
  if (kind === 'subject') return rng.chance(0.5) ? { type: 'user', id: rng.pick([RICK, BETH]) } : { type: 'identity', id: RICK, properties: { email: 'rick@the-citadel.com' } };
  return rng.chance(0.5) ? { type: 'todo', id: 't-1', properties: { ownerID: 'rick@the-citadel.com' } } : { type: 'route', id: '/todos' };
}

function cedarRequest(rng: Rng): { [key: string]: FuzzValue } {
  return {
    principal: { type: 'user', id: rng.pick([RICK, BETH]) },
    action: { type: 'Action', id: rng.pick(['can_read_todos', 'can_delete_todo', 'can_update_todo']) },
    resource: rng.chance(0.5) ? { type: 'todo', id: 't-1' } : 'todo::"t-2"',
    context: { ip: '10.0.0.1', n: 3, f: new RawNumber('1.5') },
  };
}

const cedarEntities = (): FuzzValue => [{ uid: { type: 'todo', id: 't-1' }, attrs: { ownerID: 'rick@the-citadel.com' }, parents: [] }];

/** Push bodies: a file of Cedar that does not parse is added, so no body can create a version. */
function poisonPush(rng: Rng, body: FuzzValue): FuzzValue {
  if (!isPlainObject(body)) return body;
  const out = clone(body);
  const files = out.files;
  if (files === undefined || isPlainObject(files)) out.files = { ...(files ?? {}), 'zz-poison.cedar': rng.pick(UNPARSABLE_CEDAR) };
  return out;
}

/** Activation bodies: a version that could exist becomes one that does not. */
function poisonActivate(_rng: Rng, body: FuzzValue): FuzzValue {
  if (!isPlainObject(body)) return body;
  const v = body.version;
  const couldExist = (typeof v === 'number' && Number.isInteger(v) && v >= 1) || (typeof v === 'string' && /^\d{1,9}$/.test(v)) || (v instanceof RawNumber && /^[\d.eE+]+$/.test(v.text));
  return couldExist ? { ...clone(body), version: 987_654 } : body;
}

/** Bulk imports: an entity of a type the schema lacks goes in at a random place. */
function poisonImport(rng: Rng, body: FuzzValue): FuzzValue {
  if (!isPlainObject(body) || !Array.isArray(body.entities)) return body;
  const out = clone(body);
  const entities = out.entities as FuzzValue[];
  entities.splice(rng.int(0, entities.length), 0, { uid: { type: 'FuzzUnknownType', id: 'x' }, attrs: {}, parents: [] });
  return out;
}

/** Single entity PUT: attributes the schema does not allow. */
function poisonEntity(_rng: Rng, body: FuzzValue): FuzzValue {
  if (!isPlainObject(body) || (body.attrs !== undefined && !isPlainObject(body.attrs))) return body;
  return { ...clone(body), attrs: { ...(body.attrs as object | undefined), email: 12345, fuzzNotInSchema: true } };
}

function routes(): Route[] {
  const list: Route[] = [];
  const prefixes = [
    { label: 'root', prefix: '', unknown: false },
    { label: 'demo', prefix: '/tenants/demo', unknown: false },
    { label: 'unknown-tenant', prefix: `/tenants/${UNKNOWN_TENANT}`, unknown: true },
  ];
  for (const { label, prefix, unknown } of prefixes) {
    const effect: Effect = unknown ? 'must-fail' : 'none';
    list.push(
      { name: `authzen evaluation (${label})`, method: 'POST', path: `${prefix}/access/v1/evaluation`, effect, limit: DECISION_LIMIT, valid: (rng) => clone(rng.pick(DEMO_REQUESTS)) },
      {
        name: `authzen evaluations (${label})`, method: 'POST', path: `${prefix}/access/v1/evaluations`, effect, limit: DECISION_LIMIT,
        valid: (rng) => ({
          subject: authzenEntity(rng, 'subject'),
          action: { name: 'can_read_todos' },
          evaluations: [{ resource: authzenEntity(rng, 'resource') }, { resource: { type: 'todo', id: 't-2' }, action: { name: 'can_delete_todo' } }],
          options: { evaluations_semantic: rng.pick(['execute_all', 'deny_on_first_deny', 'permit_on_first_permit']), verity_context: rng.chance(0.5) },
        }),
      },
      {
        name: `authzen search/subject (${label})`, method: 'POST', path: `${prefix}/access/v1/search/subject`, effect, limit: DECISION_LIMIT,
        valid: () => ({ subject: { type: 'user' }, action: { name: 'can_read_todos' }, resource: { type: 'todo', id: 't-1' }, page: { limit: 10 } }),
      },
      {
        name: `authzen search/resource (${label})`, method: 'POST', path: `${prefix}/access/v1/search/resource`, effect, limit: DECISION_LIMIT,
        valid: () => ({ subject: { type: 'user', id: RICK }, action: { name: 'can_read_user' }, resource: { type: 'user' }, page: { limit: 5, next_token: '' } }),
      },
      {
        name: `authzen search/action (${label})`, method: 'POST', path: `${prefix}/access/v1/search/action`, effect, limit: DECISION_LIMIT,
        valid: () => ({ subject: { type: 'identity', id: BETH }, resource: { type: 'route', id: '/todos' }, context: { time: '2025-01-01T00:00:00Z' } }),
      },
    );
  }
  for (const [label, tenant, unknown] of [['demo', 'demo', false], ['unknown-tenant', UNKNOWN_TENANT, true]] as const) {
    const effect: Effect = unknown ? 'must-fail' : 'none';
    list.push(
      { name: `cedar is-authorized (${label})`, method: 'POST', path: `/tenants/${tenant}/cedar/v1/is-authorized`, effect, limit: DECISION_LIMIT, valid: (rng) => ({ ...cedarRequest(rng), entities: cedarEntities() }) },
      { name: `cedar batch-is-authorized (${label})`, method: 'POST', path: `/tenants/${tenant}/cedar/v1/batch-is-authorized`, effect, limit: DECISION_LIMIT, valid: (rng) => ({ requests: [cedarRequest(rng), cedarRequest(rng)], entities: cedarEntities() }) },
    );
  }
  const ADMIN = 32 * MIB;
  const pushBody = (rng: Rng): FuzzValue => ({
    files: { 'fuzz.cedar': rng.pick(['permit(principal, action, resource);', ...ODD_CEDAR]), 'other.cedar': 'forbid(principal, action, resource) when { false };' },
    ...(rng.chance(0.5) ? { schema: rng.pick([readFileSync(new URL('../examples/demo/schema.cedarschema', import.meta.url), 'utf8'), ...ODD_SCHEMAS]) } : {}),
    validationMode: rng.pick(['strict', 'off']),
    links: rng.chance(0.3) ? [{ id: 'l1', templateId: 't1', values: { '?principal': { type: 'user', id: RICK } } }] : [],
    message: 'fuzz',
    activate: rng.chance(0.5),
    dryRun: rng.chance(0.2),
  });
  const importBody = (rng: Rng): FuzzValue => ({
    entities: [
      { uid: { type: 'Role', id: 'fuzz-role' }, attrs: {}, parents: [{ type: 'Role', id: 'viewer' }] },
      { uid: { type: 'user', id: 'fuzz-user' }, attrs: { email: 'f@z.z', name: 'Fuzz' }, parents: [] },
    ],
    mode: rng.pick(['merge', 'replace']),
  });
  const entityBody = (): FuzzValue => ({ attrs: { email: 'f@z.z', name: 'Fuzz' }, parents: [{ type: 'Role', id: 'viewer' }] });
  list.push(
    {
      name: 'admin create tenant', method: 'POST', path: '/admin/v1/tenants', effect: 'creates-tenant', limit: ADMIN,
      valid: () => ({ id: `fuzz-t-${++tenantSerial}`, name: 'Fuzz', settings: { typeMapping: { person: 'user' }, actionType: 'Action' } }),
    },
    { name: 'admin create credential', method: 'POST', path: '/admin/v1/credentials', effect: 'creates-credential', limit: DECISION_LIMIT, valid: (rng) => ({ role: rng.pick(['pep', 'policy-author']), tenant: 'demo', label: 'fuzz' }) },
    { name: 'admin push policies (demo)', method: 'POST', path: '/admin/v1/tenants/demo/policies', effect: 'must-fail', limit: ADMIN, valid: pushBody, poison: poisonPush },
    { name: 'admin push policies (unknown tenant)', method: 'POST', path: `/admin/v1/tenants/${UNKNOWN_TENANT}/policies`, effect: 'must-fail', limit: ADMIN, valid: pushBody },
    { name: 'admin push policies (_system)', method: 'POST', path: '/admin/v1/tenants/_system/policies', effect: 'must-fail', limit: ADMIN, valid: pushBody },
    { name: 'admin activate (demo)', method: 'POST', path: '/admin/v1/tenants/demo/policies/activate', effect: 'must-fail', limit: DECISION_LIMIT, valid: () => ({ version: 1 }), poison: poisonActivate },
    { name: 'admin activate (unknown tenant)', method: 'POST', path: `/admin/v1/tenants/${UNKNOWN_TENANT}/policies/activate`, effect: 'must-fail', limit: DECISION_LIMIT, valid: () => ({ version: 1 }) },
    { name: 'admin import entities (demo)', method: 'PUT', path: '/admin/v1/tenants/demo/entities', effect: 'must-fail', limit: ADMIN, valid: importBody, poison: poisonImport },
    { name: 'admin import entities (unknown tenant)', method: 'PUT', path: `/admin/v1/tenants/${UNKNOWN_TENANT}/entities`, effect: 'must-fail', limit: ADMIN, valid: importBody },
    { name: 'admin put entity user (demo)', method: 'PUT', path: '/admin/v1/tenants/demo/entities/user/fuzz-user', effect: 'must-fail', limit: ADMIN, valid: entityBody, poison: poisonEntity },
    { name: 'admin put entity of unknown type (demo)', method: 'PUT', path: '/admin/v1/tenants/demo/entities/FuzzUnknownType/x', effect: 'must-fail', limit: ADMIN, valid: entityBody },
    { name: 'admin put entity (unknown tenant)', method: 'PUT', path: `/admin/v1/tenants/${UNKNOWN_TENANT}/entities/user/x`, effect: 'must-fail', limit: ADMIN, valid: entityBody },
  );
  list.push(...laterRoutes(ADMIN));
  return list;
}

/** Routes added after the first ones, at a quarter of the bodies each (they are many, the run must stay short). */
function laterRoutes(ADMIN: number): Route[] {
  const share = 0.25;
  const bearer = (token: string) => () => ({ authorization: `Bearer ${token}` });
  const settingsBody = (rng: Rng): FuzzValue => ({
    settings: {
      ...(rng.chance(0.5) ? { typeMapping: { person: 'user' } } : {}),
      ...(rng.chance(0.5) ? { gatewayRoutes: ['/todos/{id}', '/todos'] } : {}),
      ...(rng.chance(0.3) ? { validateRequests: rng.chance(0.5) } : {}),
      ...(rng.chance(0.3) ? { stsPrincipalType: rng.pick(['User', 'Client']) } : {}),
      ...(rng.chance(0.2) ? { actionType: null } : {}),
    },
  });
  const sourceBody = (): FuzzValue => ({
    issuer: 'https://idp.fuzz.example',
    keys: { kind: 'inline', keys: [fx.jwk] },
    audiences: ['fuzz-api'],
    algorithms: ['ES256'],
    claims: { principalType: 'User', groupsClaim: 'groups', groupType: 'Role' },
  });
  const clientBody = (rng: Rng): FuzzValue => ({ principal: { type: 'Client', id: 'fuzz-other' }, audiences: ['inventory'], scopes: ['todos:read'], ...(rng.chance(0.3) ? { secret: true } : {}) });
  const revocationBody = (rng: Rng): FuzzValue => rng.pick<FuzzValue>([{ subject: 'fuzz-subject' }, { client: 'fuzz-other' }, { jti: `jti-${rng.int(0, 1e6)}`, exp: Math.floor(Date.now() / 1000) + 600 }]);
  const tokenForm = (rng: Rng): FuzzValue => {
    const auth = { client_id: 'fuzz-client', client_secret: fx.clientSecret };
    if (rng.chance(0.6)) return { grant_type: 'client_credentials', ...auth, audience: rng.pick([fx.issuer, 'inventory']), ...(rng.chance(0.5) ? { scope: 'todos:read' } : {}) };
    return { grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', ...auth, subject_token: fx.userToken, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', audience: 'inventory' };
  };
  const revokeForm = (rng: Rng): FuzzValue => ({ token: rng.pick([fx.revocableToken, 'not-a-token', `${fx.revocableToken.slice(0, -4)}AAAA`]), client_id: 'fuzz-client', client_secret: fx.clientSecret, ...(rng.chance(0.3) ? { token_type_hint: 'access_token' } : {}) });
  const pepRecords = (rng: Rng): FuzzValue => ({
    records: Array.from({ length: rng.int(1, 3) }, () => ({
      decisionId: `fuzz-${rng.int(0, 1e9)}`,
      time: new Date().toISOString(),
      tenant: 'demo',
      requestId: rng.chance(0.5) ? null : `req-${rng.int(0, 1e6)}`,
      tier: 'fuzz-pep',
      principal: { type: 'user', id: RICK },
      action: { type: 'Action', id: 'can_read_todos' },
      resource: { type: 'todo', id: 't-1' },
      decision: rng.pick(['allow', 'deny']),
      reasons: ['policy0'],
      errors: [],
      policyVersion: 1,
      latencyUs: rng.int(1, 500),
    })),
  });
  const credentialBody = (rng: Rng): FuzzValue => ({ role: rng.pick(['pep', 'pep-local', 'policy-author']), label: 'fuzz' });
  const anyBody = (): FuzzValue => ({});
  /** Settings: an unknown key makes any patch invalid. */
  const poisonSettings = (_rng: Rng, body: FuzzValue): FuzzValue => (isPlainObject(body) && isPlainObject(body.settings) ? { ...clone(body), settings: { ...clone(body.settings), fuzzUnknownSetting: 1 } } : body);
  /** Identity sources: `none` is never an acceptable algorithm. */
  const poisonSource = (_rng: Rng, body: FuzzValue): FuzzValue => (isPlainObject(body) ? { ...clone(body), algorithms: ['none'] } : body);
  /** Clients: unknown keys are refused. */
  const poisonClient = (_rng: Rng, body: FuzzValue): FuzzValue => (isPlainObject(body) ? { ...clone(body), fuzzUnknownKey: true } : body);
  const gatewayHeaders = (kind: 'nginx' | 'envoy' | 'forward-auth') => (rng: Rng): Record<string, string> => {
    const headers: Record<string, string> = {
      'x-verity-credential': rng.chance(0.95) ? `Bearer ${fx.scratchPep}` : rng.pick(['', 'Bearer vrt_wrong', `Bearer ${fx.demoPep}`]),
      authorization: rng.chance(0.8) ? `Bearer ${fx.userToken}` : rng.pick(['', 'Bearer', 'Bearer a.b.c', `Basic ${fx.userToken}`, `Bearer ${fx.revocableToken}x`, `Bearer ${'x'.repeat(9000)}`]),
    };
    const method = rng.pick(['GET', 'POST', 'DELETE', 'get', 'PROPFIND', '', 'G E T', 'x'.repeat(40), 'GET\t']);
    const uri = rng.pick(['/todos/1', '/todos', '/todos/1?x=1#f', '/todos/%2e%2e/admin', '/todos/%00', '/%E0%A4%A', '//todos//1', '/todos/../../etc', 'todos/1', '*', '', `/todos/${'a'.repeat(5000)}`, '/todos/ü']);
    if (kind === 'nginx') Object.assign(headers, { 'x-original-method': method, 'x-original-uri': uri });
    if (kind === 'forward-auth') Object.assign(headers, { 'x-forwarded-method': method, 'x-forwarded-uri': uri });
    for (const name of Object.keys(headers)) if (headers[name] === '' || rng.chance(0.03)) delete headers[name];
    return headers;
  };
  const S = `/tenants/${SCRATCH}`;
  const AS = `/admin/v1/tenants/${SCRATCH}`;
  const U = UNKNOWN_TENANT;
  const L = DECISION_LIMIT;
  const routes: Array<Omit<Route, 'share'>> = [
    // Token service (RFC 6749, RFC 8693, RFC 7009): form bodies.
    { name: 'oauth2 token (scratch)', method: 'POST', path: `${S}/oauth2/token`, effect: 'scratch', limit: L, valid: tokenForm, form: true, headers: () => ({}) },
    { name: 'oauth2 token (unknown tenant)', method: 'POST', path: `/tenants/${U}/oauth2/token`, effect: 'must-fail', limit: L, valid: tokenForm, form: true, headers: () => ({}) },
    { name: 'oauth2 revoke (scratch)', method: 'POST', path: `${S}/oauth2/revoke`, effect: 'scratch', limit: L, valid: revokeForm, form: true, headers: () => ({}) },
    // Identity admin.
    { name: 'admin revocations (scratch)', method: 'POST', path: `${AS}/revocations`, effect: 'scratch', limit: L, valid: revocationBody },
    { name: 'admin revocations (unknown tenant)', method: 'POST', path: `/admin/v1/tenants/${U}/revocations`, effect: 'must-fail', limit: L, valid: revocationBody },
    { name: 'admin put identity source (scratch)', method: 'PUT', path: `${AS}/identity-sources/fuzz-src`, effect: 'scratch', limit: L, valid: sourceBody },
    { name: 'admin put identity source (demo)', method: 'PUT', path: '/admin/v1/tenants/demo/identity-sources/fuzz-src', effect: 'must-fail', limit: L, valid: sourceBody, poison: poisonSource },
    { name: 'admin put client (scratch)', method: 'PUT', path: `${AS}/clients/fuzz-other`, effect: 'scratch', limit: L, valid: clientBody },
    { name: 'admin put client (demo)', method: 'PUT', path: '/admin/v1/tenants/demo/clients/fuzz-other', effect: 'must-fail', limit: L, valid: clientBody, poison: poisonClient },
    // Tenant settings.
    { name: 'admin patch tenant (scratch)', method: 'PATCH', path: AS, effect: 'scratch', limit: ADMIN, valid: settingsBody },
    { name: 'admin patch tenant (demo)', method: 'PATCH', path: '/admin/v1/tenants/demo', effect: 'must-fail', limit: ADMIN, valid: settingsBody, poison: poisonSettings },
    { name: 'admin patch tenant (_system)', method: 'PATCH', path: '/admin/v1/tenants/_system', effect: 'must-fail', limit: ADMIN, valid: settingsBody },
    // Credentials, platform-wide and tenant-scoped.
    { name: 'admin create credential (demo scope)', method: 'POST', path: '/admin/v1/tenants/demo/credentials', effect: 'creates-credential', limit: L, valid: credentialBody },
    { name: 'admin create credential (_system scope)', method: 'POST', path: '/admin/v1/tenants/_system/credentials', effect: 'must-fail', limit: L, valid: credentialBody },
    { name: 'admin revoke credential', method: 'POST', path: `/admin/v1/credentials/${fx.victims.revoke}/revoke`, effect: 'victim-credential', limit: L, valid: anyBody },
    { name: 'admin revoke last admin credential', method: 'POST', path: `/admin/v1/credentials/${fx.adminId}/revoke`, effect: 'must-fail', limit: L, valid: anyBody },
    { name: 'admin rotate credential', method: 'POST', path: `/admin/v1/credentials/${fx.victims.rotate}/rotate`, effect: 'victim-credential', limit: L, valid: anyBody },
    { name: 'admin rotate credential (demo scope)', method: 'POST', path: `/admin/v1/tenants/demo/credentials/${fx.victims.demoRotate}/rotate`, effect: 'victim-credential', limit: L, valid: anyBody },
    { name: 'admin revoke other tenant credential (demo scope)', method: 'POST', path: `/admin/v1/tenants/demo/credentials/${fx.victims.scratch}/revoke`, effect: 'must-fail', limit: L, valid: anyBody },
    { name: 'admin rotate other tenant credential (demo scope)', method: 'POST', path: `/admin/v1/tenants/demo/credentials/${fx.victims.scratch}/rotate`, effect: 'must-fail', limit: L, valid: anyBody },
    // Audit: PEP decision ingest and checkpoints.
    { name: 'pep audit ingest (demo, pep)', method: 'POST', path: '/tenants/demo/audit/v1/decisions', effect: 'none', limit: L, valid: pepRecords, headers: bearer(fx.demoPep) },
    { name: 'pep audit ingest (demo, pep-local)', method: 'POST', path: '/tenants/demo/audit/v1/decisions', effect: 'none', limit: L, valid: pepRecords, headers: bearer(fx.demoPepLocal) },
    { name: 'pep audit ingest (demo, admin)', method: 'POST', path: '/tenants/demo/audit/v1/decisions', effect: 'must-fail', limit: L, valid: pepRecords },
    { name: 'pep audit ingest (_system, pep)', method: 'POST', path: '/tenants/_system/audit/v1/decisions', effect: 'must-fail', limit: L, valid: pepRecords, headers: bearer(fx.demoPep) },
    { name: 'admin audit checkpoint (demo)', method: 'POST', path: '/admin/v1/tenants/demo/audit/checkpoints', effect: 'none', limit: L, valid: anyBody },
    { name: 'admin audit checkpoint (unknown tenant)', method: 'POST', path: `/admin/v1/tenants/${U}/audit/checkpoints`, effect: 'must-fail', limit: L, valid: anyBody },
    // Gateways: the body is never read; the forwarded headers are the input.
    { name: 'gateway nginx (scratch)', method: 'POST', path: `${S}/gateway/v1/nginx`, effect: 'scratch', limit: L, valid: anyBody, gateway: true, headers: gatewayHeaders('nginx') },
    { name: 'gateway envoy (scratch)', method: 'PUT', path: `${S}/gateway/v1/envoy/todos/1`, effect: 'scratch', limit: L, valid: anyBody, gateway: true, headers: gatewayHeaders('envoy') },
    { name: 'gateway forward-auth (scratch)', method: 'PATCH', path: `${S}/gateway/v1/forward-auth`, effect: 'scratch', limit: L, valid: anyBody, gateway: true, headers: gatewayHeaders('forward-auth') },
  ];
  return routes.map((route) => ({ ...route, share }));
}

// ---------------------------------------------------------------------------------------------
// Bodies

interface Case {
  kind: string;
  contentType: string | null;
  body?: string | Buffer;
  headers?: Record<string, string>;
}

const GARBAGE = [
  'not json', '{', '[', '}', '{"subject":', '{"a":1}x', "{'a':1}", 'undefined', 'NaN', 'Infinity', '[1,]', '{"a":1,}', '{"a" 1}',
  '\ufeff{}', '01', '+1', '.5', '-', '--1', '1e', 'tru', 'nul', '"unterminated', '"\\x41"', '"\\u12"', '{"a":"\\u0000"}', '"\\ud800"',
  '{"a":1,"a":{"b":2}}', '/* c */ {}', '{} {}', '[]]', '\u0000', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"x":1}}}',
  'null', 'true', 'false', '0', '-0', '1e999', '"str"', '[]', '{}', '[null]', '[[[]]]', '   \n\t  ',
];

/** A body as JSON text (sometimes pretty, sometimes with a BOM or trailing whitespace). */
function jsonText(rng: Rng, value: FuzzValue): string {
  const text = toJsonText(value, 2 * MIB);
  const roll = rng.next();
  if (roll < 0.05) return `\n  ${text}  \n`;
  return text;
}

/** A case whose body stays a sensible size (random nesting can multiply a big string a thousandfold). */
function generateCase(rng: Rng, route: Route): Case {
  for (;;) {
    try {
      return route.form ? generateFormCase(rng, route) : generateAnyCase(rng, route);
    } catch (error) {
      if (!(error instanceof TooLarge)) throw error;
    }
  }
}

/**
 * Fixed texts that happen to be valid JSON objects (`{}`, `{"a":"\u0000"}`, invalid UTF-8 the
 * server decodes with U+FFFD) go through the route's poison too, so a must-fail route stays
 * must-fail. (That a push without `files` is accepted is checked on its own, above.)
 */
function poisonText(rng: Rng, route: Route, kase: Case): Case {
  if (!route.poison || kase.body === undefined) return kase;
  let parsed: unknown;
  try {
    parsed = JSON.parse(kase.body.toString());
  } catch {
    return kase;
  }
  if (!isPlainObject(parsed)) return kase;
  return { ...kase, body: toJsonText(route.poison(rng, parsed as FuzzValue)) };
}

const FORM = 'application/x-www-form-urlencoded';
const FORM_GARBAGE = ['', '=', '&&&', '%', '%zz', 'a=%E0%A4%A', 'grant_type', 'grant_type=&grant_type=', '=x&=y', 'a=1;b=2', '\u0000=\u0000', 'client_id=%00', '+++=+++', 'grant_type=client_credentials&'.repeat(1000)];

/** Form fields as text: strings stay, anything else is its JSON. */
function formText(value: FuzzValue): string {
  const params = new URLSearchParams();
  if (isPlainObject(value)) for (const [key, field] of Object.entries(value)) params.append(key, typeof field === 'string' ? field : toJsonText(field as FuzzValue));
  else params.append('body', toJsonText(value));
  return params.toString();
}

/** The OAuth endpoints' bodies: valid, mutated, repeated or garbled forms; JSON the rest of the time. */
function generateFormCase(rng: Rng, route: Route): Case {
  const roll = rng.next();
  if (roll < 0.15) return { kind: 'form valid', contentType: FORM, body: formText(route.valid(rng)) };
  if (roll < 0.5) {
    let body = route.valid(rng);
    for (let i = rng.int(1, 3); i > 0; i--) body = mutate(rng, body);
    return { kind: 'form mutated', contentType: FORM, body: formText(body).slice(0, 200_000) };
  }
  if (roll < 0.6) {
    const text = formText(route.valid(rng));
    const first = text.split('&')[rng.int(0, text.split('&').length - 1)] ?? '';
    return { kind: 'form repeated parameter', contentType: FORM, body: `${text}&${first}` };
  }
  if (roll < 0.7) return { kind: 'form garbage', contentType: rng.pick([FORM, `${FORM}; charset=utf-8`, 'APPLICATION/X-WWW-FORM-URLENCODED']), body: rng.pick(FORM_GARBAGE) };
  if (roll < 0.75) {
    const over = rng.chance(0.3);
    const size = over ? route.limit + rng.int(1, 4096) : rng.int(64 * 1024, Math.floor(route.limit * 0.9));
    return { kind: over ? `form over the ${route.limit}-byte limit` : 'form large', contentType: FORM, body: `${formText(route.valid(rng))}&padding=${'x'.repeat(size)}` };
  }
  return generateAnyCase(rng, route);
}

function generateAnyCase(rng: Rng, route: Route): Case {
  const json = 'application/json';
  const poison = (body: FuzzValue) => (route.poison ? route.poison(rng, body) : body);
  const roll = rng.next();
  if (roll < 0.3) {
    return { kind: 'random-json', contentType: json, body: jsonText(rng, poison(randomJson(rng, rng.int(1, 6)))) };
  }
  if (roll < 0.65) {
    let body = route.valid(rng);
    const n = rng.int(1, 3);
    // A mutation can multiply the body a thousandfold; mutating that again would make the
    // generator (which shares the event loop with the server) the slowest part of the test.
    for (let i = 0; i < n; i++) {
      body = mutate(rng, body);
      if (toJsonText(body).length > 100_000) break;
    }
    return { kind: 'mutated', contentType: json, body: jsonText(rng, poison(body)) };
  }
  if (roll < 0.7) return { kind: 'valid', contentType: json, body: jsonText(rng, poison(route.valid(rng))) };
  if (roll < 0.8) {
    const sub = rng.int(0, 5);
    if (sub === 0) {
      const text = toJsonText(poison(route.valid(rng)));
      return { kind: 'truncated', contentType: json, body: text.slice(0, rng.int(0, text.length - 1)) };
    }
    if (sub === 1) return { kind: 'empty', contentType: rng.pick([json, null]), body: '' };
    if (sub === 2) return { kind: 'no body', contentType: rng.pick([json, null]) };
    if (sub === 3) return poisonText(rng, route, { kind: 'invalid utf-8', contentType: json, body: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]) });
    return poisonText(rng, route, { kind: 'garbage', contentType: json, body: rng.pick(GARBAGE) });
  }
  if (roll < 0.87) {
    const valid = toJsonText(poison(route.valid(rng)));
    const [contentType, body] = rng.pick<[string | null, string]>([
      ['text/plain', valid],
      ['text/plain; charset=utf-8', valid],
      ['application/x-www-form-urlencoded', 'subject=a&action=b'],
      ['multipart/form-data; boundary=xyz', '--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--xyz--\r\n'],
      ['application/xml', '<a/>'],
      ['application/octet-stream', valid],
      ['application/jsonx', valid],
      ['json', valid],
      ['', valid],
      [null, valid],
      ['application/json; charset=utf-8', 'not json'],
      ['application/merge-patch+json', '{'],
      ['APPLICATION/JSON', '{"a":'],
    ]);
    return { kind: `content-type ${contentType}`, contentType, body };
  }
  if (roll < 0.95) {
    const depth = rng.pick([33, 100, 1000, 10_000, 50_000]);
    const sub = rng.int(0, 3);
    if (sub === 0) return { kind: `unclosed [ x${depth}`, contentType: json, body: '['.repeat(depth) };
    if (sub === 1) return { kind: `nested arrays x${depth}`, contentType: json, body: `${'['.repeat(depth)}1${']'.repeat(depth)}` };
    if (sub === 2) return { kind: `nested objects x${depth}`, contentType: json, body: `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}` };
    const valid = route.valid(rng);
    const inner = nested(Math.min(depth, 200), 1, rng.chance(0.5));
    const body = isPlainObject(valid) ? { ...valid, context: inner, attrs: inner, files: inner } : inner;
    return { kind: `deep field x${Math.min(depth, 200)}`, contentType: json, body: toJsonText(poison(body)) };
  }
  // Large bodies: near the limit, or over it (the over-limit ones are rare: they are big).
  const over = rng.chance(route.limit === DECISION_LIMIT ? 0.25 : 0);
  const size = over ? route.limit + rng.int(1, 4096) : rng.int(64 * 1024, Math.min(900 * 1024, Math.floor(route.limit * 0.4)));
  const valid = route.valid(rng);
  const big = 'x'.repeat(size);
  const body = isPlainObject(valid) ? { ...valid, padding: big, message: big } : [valid, big];
  const text = toJsonText(poison(body));
  return { kind: over ? `over the ${route.limit}-byte limit` : `large (${text.length} bytes)`, contentType: json, body: over && text.length <= route.limit ? text + ' '.repeat(route.limit) : text };
}

/** Request headers that vary: request ids (good and bad), a tier label, sometimes no or bad credentials. */
function headersFor(rng: Rng): Record<string, string> {
  const headers: Record<string, string> = {};
  if (rng.chance(0.3)) headers['x-request-id'] = rng.pick(['fuzz-1', 'a'.repeat(129), 'bad id with spaces', '../x', `req-${rng.int(0, 1e9)}`]);
  if (rng.chance(0.1)) headers['x-verity-tier'] = rng.pick(['gateway', 'bad tier!', 'x'.repeat(100)]);
  if (rng.chance(0.03)) headers.authorization = rng.pick(['', 'Bearer', 'Bearer vrt_wrong', 'Basic abc', `Bearer ${ADMIN_TOKEN} extra`, `bearer ${ADMIN_TOKEN}`]);
  return headers;
}

function preview(value: string | Buffer | undefined, max = 300): string {
  if (value === undefined) return '(no body)';
  const text = typeof value === 'string' ? value : `buffer:${value.toString('hex').slice(0, max)}`;
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}

// ---------------------------------------------------------------------------------------------
// State snapshots

async function getJson(path: string): Promise<unknown> {
  const answer = await get(path);
  if (answer.status !== 200) throw new Error(`GET ${path}: ${answer.status} ${answer.text.slice(0, 300)}`);
  return answer.json;
}

async function allEntities(tenant: string): Promise<unknown[]> {
  const entities: unknown[] = [];
  let after: string | null = null;
  for (;;) {
    const page = (await getJson(`/admin/v1/tenants/${tenant}/entities?limit=1000${after ? `&after=${encodeURIComponent(after)}` : ''}`)) as { entities: unknown[]; next: string | null };
    entities.push(...page.entities);
    if (!page.next) return entities;
    after = page.next;
  }
}

interface Credential {
  id: string;
  role: string;
  tenant: string | null;
  revokedAt: string | null;
}

interface Snapshot {
  versions: unknown;
  active: unknown;
  entities: unknown[];
  system: { versions: unknown; active: unknown; entities: unknown[] };
  identity: { sources: unknown; clients: unknown };
  tenants: Array<{ id: string }>;
  credentials: Credential[];
}

async function snapshot(): Promise<Snapshot> {
  return {
    versions: await getJson('/admin/v1/tenants/demo/policies/versions'),
    active: await getJson('/admin/v1/tenants/demo/policies/versions/active'),
    entities: await allEntities('demo'),
    system: {
      versions: await getJson('/admin/v1/tenants/_system/policies/versions'),
      active: await getJson('/admin/v1/tenants/_system/policies/versions/active'),
      entities: await allEntities('_system'),
    },
    identity: { sources: await getJson('/admin/v1/tenants/demo/identity-sources'), clients: await getJson('/admin/v1/tenants/demo/clients') },
    tenants: ((await getJson('/admin/v1/tenants')) as { tenants: Array<{ id: string }> }).tenants,
    credentials: ((await getJson('/admin/v1/credentials')) as { credentials: Credential[] }).credentials,
  };
}

let before: Snapshot;
const createdTenants = new Set<string>();
const createdCredentials = new Set<string>();

/** What the setup made for the routes that need more than the admin token. */
const fx = {
  /** The scratch tenant's token-service issuer, the gateway's default audience. */
  issuer: '',
  jwk: {} as FuzzValue,
  clientSecret: '',
  /** A client_credentials token for the scratch tenant's own audience (the gateway's user token). */
  userToken: '',
  /** A token the RFC 7009 route may revoke. */
  revocableToken: '',
  demoPep: '',
  demoPepLocal: '',
  scratchPep: '',
  adminId: '',
  /** Credentials the credential routes may revoke or rotate, and one of another tenant the demo scope must not reach. */
  victims: { revoke: '', rotate: '', demoRotate: '', scratch: '' },
};

async function must(answer: Promise<Answer>, status: number): Promise<Record<string, unknown>> {
  const got = await answer;
  if (got.status !== status) throw new Error(`setup: ${got.status} ${got.text.slice(0, 300)}`);
  return got.json as Record<string, unknown>;
}

async function credential(body: Record<string, unknown>, path = '/admin/v1/credentials'): Promise<{ id: string; token: string }> {
  return (await must(post(path, body), 201)) as { id: string; token: string };
}

async function clientToken(audience: string): Promise<string> {
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: 'fuzz-client', client_secret: fx.clientSecret, audience }).toString();
  const answer = await must(send({ method: 'POST', path: `/tenants/${SCRATCH}/oauth2/token`, contentType: FORM, body: form, noAdmin: true }), 200);
  return answer.access_token as string;
}

beforeAll(async () => {
  server = await startServer({ port: 0, dataDir: null, demo: true, decisionAuth: 'required', adminToken: ADMIN_TOKEN, print: () => {}, logStream: testLogStream() });
  fx.issuer = `${server.url}/tenants/${SCRATCH}`;
  fx.jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }) as FuzzValue;
  await must(post('/admin/v1/tenants', { id: SCRATCH, name: 'Fuzz scratch', settings: { gatewayRoutes: ['/todos/{id}', '/todos'] } }), 201);
  await must(post(`/admin/v1/tenants/${SCRATCH}/policies`, { files: { 'p.cedar': 'permit(principal, action, resource);\nforbid(principal, action, resource) when { context has nope };' }, validationMode: 'off' }), 201);
  const client = await must(send({ method: 'PUT', path: `/admin/v1/tenants/${SCRATCH}/clients/fuzz-client`, contentType: 'application/json', body: JSON.stringify({ principal: { type: 'Client', id: 'fuzz-client' }, audiences: [fx.issuer, 'inventory'], scopes: ['todos:read'], secret: true }) }), 200);
  fx.clientSecret = client.clientSecret as string;
  fx.userToken = await clientToken(fx.issuer);
  fx.revocableToken = await clientToken('inventory');
  fx.demoPep = (await credential({ role: 'pep', tenant: 'demo', label: 'fuzz pep' })).token;
  fx.demoPepLocal = (await credential({ role: 'pep-local', tenant: 'demo', label: 'fuzz pep-local' })).token;
  fx.scratchPep = (await credential({ role: 'pep', tenant: SCRATCH, label: 'fuzz gateway' })).token;
  fx.victims.revoke = (await credential({ role: 'policy-author', tenant: SCRATCH, label: 'fuzz victim' })).id;
  fx.victims.rotate = (await credential({ role: 'pep', tenant: SCRATCH, label: 'fuzz victim' })).id;
  fx.victims.demoRotate = (await credential({ role: 'pep', label: 'fuzz victim' }, '/admin/v1/tenants/demo/credentials')).id;
  fx.victims.scratch = (await credential({ role: 'pep-local', tenant: SCRATCH, label: 'fuzz other tenant' })).id;
  before = await snapshot();
  const admins = before.credentials.filter((c) => c.role === 'platform-admin' && c.revokedAt === null);
  if (admins.length !== 1) throw new Error(`setup: expected one platform admin, found ${admins.length}`);
  fx.adminId = (admins[0] as Credential).id;
});

afterAll(async () => {
  await server?.close();
});

// ---------------------------------------------------------------------------------------------

const VALID_EVALUATION = { subject: { type: 'user', id: RICK }, action: { name: 'can_delete_todo' }, resource: { type: 'todo', id: 't-1' } };

function expectError(answer: Answer, status: number, code: string): void {
  expect({ status: answer.status, code: (answer.json as { code?: unknown } | undefined)?.code }, answer.text.slice(0, 500)).toEqual({ status, code });
  expect(problemsOf(answer, undefined)).toEqual([]);
}

describe('bad input: targeted cases with exact codes', () => {
  it('malformed JSON is 400 ERR_REQUEST_MALFORMED_JSON', async () => {
    for (const body of ['{"subject":', 'not json', '{"a":1,}', '']) {
      expectError(await send({ method: 'POST', path: '/access/v1/evaluation', contentType: 'application/json', body }), 400, 'ERR_REQUEST_MALFORMED_JSON');
    }
    expectError(await send({ method: 'POST', path: '/admin/v1/tenants/demo/policies', contentType: 'application/json', body: '{"files":' }), 400, 'ERR_REQUEST_MALFORMED_JSON');
  });

  it('a body that is not JSON is 400 ERR_REQUEST_CONTENT_TYPE', async () => {
    const body = JSON.stringify(VALID_EVALUATION);
    expectError(await send({ method: 'POST', path: '/access/v1/evaluation', contentType: 'text/plain', body }), 400, 'ERR_REQUEST_CONTENT_TYPE');
    expectError(await send({ method: 'POST', path: '/access/v1/evaluation', contentType: 'application/x-www-form-urlencoded', body: 'a=1' }), 400, 'ERR_REQUEST_CONTENT_TYPE');
    expectError(await send({ method: 'PUT', path: '/admin/v1/tenants/demo/entities', contentType: 'text/plain', body: '{"entities":[]}' }), 400, 'ERR_REQUEST_CONTENT_TYPE');
  });

  it('a decision body over 512 KiB is 413 ERR_REQUEST_TOO_LARGE', async () => {
    const body = JSON.stringify({ ...VALID_EVALUATION, context: { padding: 'x'.repeat(DECISION_LIMIT) } });
    expectError(await send({ method: 'POST', path: '/access/v1/evaluation', contentType: 'application/json', body }), 413, 'ERR_REQUEST_TOO_LARGE');
    expectError(await send({ method: 'POST', path: '/tenants/demo/cedar/v1/is-authorized', contentType: 'application/json', body }), 413, 'ERR_REQUEST_TOO_LARGE');
  });

  it('an admin body over 32 MiB is 413 ERR_REQUEST_TOO_LARGE', async () => {
    const body = JSON.stringify({ files: { 'big.cedar': `// ${'x'.repeat(33 * MIB)}` } });
    expectError(await send({ method: 'POST', path: '/admin/v1/tenants/demo/policies', contentType: 'application/json', body }), 413, 'ERR_REQUEST_TOO_LARGE');
  });

  it('JSON nested 100 deep is 400 ERR_REQUEST_TOO_DEEP, and 10,000 deep does not hurt', async () => {
    const deep = toJsonText({ ...VALID_EVALUATION, context: nested(100, 1, true) } as FuzzValue);
    expectError(await send({ method: 'POST', path: '/access/v1/evaluation', contentType: 'application/json', body: deep }), 400, 'ERR_REQUEST_TOO_DEEP');
    expectError(await send({ method: 'POST', path: '/access/v1/evaluation', contentType: 'application/json', body: `${'['.repeat(10_000)}${']'.repeat(10_000)}` }), 400, 'ERR_REQUEST_TOO_DEEP');
    expectError(await send({ method: 'POST', path: '/access/v1/evaluation', contentType: 'application/json', body: '['.repeat(10_000) }), 400, 'ERR_REQUEST_MALFORMED_JSON');
    expectError(await send({ method: 'PUT', path: '/admin/v1/tenants/demo/entities', contentType: 'application/json', body: `${'['.repeat(100_000)}${']'.repeat(100_000)}` }), 400, 'ERR_REQUEST_TOO_DEEP');
  });

  it('an evaluation for an unknown tenant is 404 ERR_TENANT_NOT_FOUND', async () => {
    expectError(await post(`/tenants/${UNKNOWN_TENANT}/access/v1/evaluation`, VALID_EVALUATION), 404, 'ERR_TENANT_NOT_FOUND');
    expectError(await post(`/tenants/${UNKNOWN_TENANT}/cedar/v1/is-authorized`, { principal: { type: 'user', id: RICK }, action: { type: 'Action', id: 'can_read_todos' }, resource: { type: 'todo', id: 't' } }), 404, 'ERR_TENANT_NOT_FOUND');
    expectError(await post('/tenants/Not_A_Tenant/access/v1/evaluation', VALID_EVALUATION), 404, 'ERR_TENANT_NOT_FOUND');
  });

  it('an evaluations batch for an unknown tenant is 404 even when every item is invalid', async () => {
    expectError(await post(`/tenants/${UNKNOWN_TENANT}/access/v1/evaluations`, { evaluations: [VALID_EVALUATION] }), 404, 'ERR_TENANT_NOT_FOUND');
    expectError(await post(`/tenants/${UNKNOWN_TENANT}/access/v1/evaluations`, { evaluations: [{ subject: 5 }] }), 404, 'ERR_TENANT_NOT_FOUND');
  });

  it('an invalid Cedar push is 422 ERR_POLICY_PARSE and creates no version', async () => {
    const versions = await getJson('/admin/v1/tenants/demo/policies/versions');
    for (const text of UNPARSABLE_CEDAR) {
      const answer = await post('/admin/v1/tenants/demo/policies', { files: { 'bad.cedar': text, 'good.cedar': 'permit(principal, action, resource);' } });
      expectError(answer, 422, 'ERR_POLICY_PARSE');
    }
    expect(await getJson('/admin/v1/tenants/demo/policies/versions')).toEqual(versions);
  });


  it('a dry-run push to an unknown tenant is 404 ERR_TENANT_NOT_FOUND', async () => {
    expectError(await post(`/admin/v1/tenants/${UNKNOWN_TENANT}/policies`, { files: { 'a.cedar': 'permit(principal, action, resource);' }, dryRun: true }), 404, 'ERR_TENANT_NOT_FOUND');
  });

  it('a lone UTF-16 surrogate or a NUL anywhere in a body is 400 ERR_REQUEST_INVALID', async () => {
    const lone = '{"principal":{"type":"user","id":"x"},"action":{"type":"Action","id":"can_read_todos"},"resource":{"type":"todo","id":"t"},"context":{"ip":"a\\udcfcb"}}';
    expectError(await send({ method: 'POST', path: '/tenants/demo/cedar/v1/is-authorized', contentType: 'application/json', body: lone }), 400, 'ERR_REQUEST_INVALID');
    const authzen = `{"subject":{"type":"user","id":"${RICK}"},"action":{"name":"can_read_todos"},"resource":{"type":"todo","id":"t"},"context":{"x":"\\ud800"}}`;
    expectError(await send({ method: 'POST', path: '/access/v1/evaluation', contentType: 'application/json', body: authzen }), 400, 'ERR_REQUEST_INVALID');
    const nulPolicy = JSON.stringify({ files: { 'a.cedar': 'permit(principal, action, resource); \u0000' } });
    expectError(await send({ method: 'POST', path: '/admin/v1/tenants/demo/policies', contentType: 'application/json', body: nulPolicy }), 400, 'ERR_REQUEST_INVALID');
  });

  it('an entity of a type not in the schema is 400 ERR_ENTITY_UNKNOWN_TYPE, and nothing of the import is written', async () => {
    const entities = [{ uid: { type: 'Role', id: 'fuzz-atomic' }, attrs: {}, parents: [] }, { uid: { type: 'Nope', id: 'x' }, attrs: {}, parents: [] }];
    for (const mode of ['merge', 'replace']) {
      expectError(await send({ method: 'PUT', path: '/admin/v1/tenants/demo/entities', contentType: 'application/json', body: JSON.stringify({ entities, mode }) }), 400, 'ERR_ENTITY_UNKNOWN_TYPE');
    }
    expectError(await send({ method: 'PUT', path: '/admin/v1/tenants/demo/entities/Nope/x', contentType: 'application/json', body: '{}' }), 400, 'ERR_ENTITY_UNKNOWN_TYPE');
    expect((await get('/admin/v1/tenants/demo/entities/Role/fuzz-atomic')).status).toBe(404);
    expect(await allEntities('demo')).toEqual(before.entities);
  });

  it('entities the store cannot hold (NUL characters) are refused whole, never half-written', async () => {
    const good = { uid: { type: 'Role', id: 'fuzz-nul-good' }, attrs: {}, parents: [] };
    for (const bad of [
      { uid: { type: 'Role', id: 'a\u0000b' }, attrs: {}, parents: [] },
      { uid: { type: 'user', id: 'fuzz-nul' }, attrs: { email: 'a\u0000b' }, parents: [] },
    ]) {
      for (const mode of ['merge', 'replace']) {
        const answer = await send({ method: 'PUT', path: '/admin/v1/tenants/demo/entities', contentType: 'application/json', body: JSON.stringify({ entities: [good, bad], mode }) });
        expect(answer.status, answer.text.slice(0, 300)).toBeGreaterThanOrEqual(400);
        expect(problemsOf(answer, undefined)).toEqual([]);
        expect(await allEntities('demo')).toEqual(before.entities);
      }
    }
  });


  it('a missing credential is 401 ERR_AUTH_MISSING', async () => {
    for (const [method, path, body] of [
      ['POST', '/access/v1/evaluation', VALID_EVALUATION],
      ['POST', '/tenants/demo/cedar/v1/is-authorized', { principal: { type: 'user', id: RICK }, action: { type: 'Action', id: 'can_read_todos' }, resource: { type: 'todo', id: 't' } }],
      ['POST', '/admin/v1/tenants/demo/policies', { files: { 'a.cedar': 'permit(principal, action, resource);' } }],
      ['PUT', '/admin/v1/tenants/demo/entities', { entities: [] }],
    ] as const) {
      const response = await fetch(`${server.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const text = await response.text();
      expectError({ status: response.status, headers: response.headers, text, json: JSON.parse(text) }, 401, 'ERR_AUTH_MISSING');
    }
  });
});

describe('bad input: fuzz every POST/PUT endpoint', () => {
  it(`answers a few thousand random bodies with 2xx or a stable 4xx, never a 5xx (seed ${SEED})`, async () => {
    const rng = new Rng(SEED);
    const all = routes();
    const jobs: Route[] = [];
    for (const route of all) for (let i = 0; i < Math.max(1, Math.round(PER_ROUTE * (route.share ?? 1))); i++) jobs.push(route);
    // Interleave routes so writes and decisions run side by side.
    for (let i = jobs.length - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [jobs[i], jobs[j]] = [jobs[j] as Route, jobs[i] as Route];
    }

    const counts = new Map<string, { sent: number; byStatus: Record<string, number> }>();
    const failures: string[] = [];
    const started = Date.now();
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) {
        // Bodies are made as they are sent (they can be large), in job order: the run is deterministic.
        const route = jobs[next++] as Route;
        const kase = generateCase(rng, route);
        const headers = { ...route.headers?.(rng), ...headersFor(rng) };
        const count = counts.get(route.name) ?? { sent: 0, byStatus: {} };
        counts.set(route.name, count);
        count.sent++;
        const describeRequest = () =>
          `${route.method} ${route.path} [${kase.kind}] content-type=${JSON.stringify(kase.contentType)} headers=${JSON.stringify(headers)} body=${preview(kase.body)}`;
        let answer: Answer;
        const index = next - 1;
        const t0 = Date.now();
        if (LOG) appendFileSync(LOG, `start ${index} ${route.name} [${kase.kind}] ${kase.body?.length ?? 0} bytes ${preview(kase.body, 200)}\n`);
        try {
          answer = await send({ method: route.method, path: route.path, contentType: kase.contentType, ...(kase.body === undefined ? {} : { body: kase.body }), headers, noAdmin: route.headers !== undefined });
        } catch (error) {
          count.byStatus.error = (count.byStatus.error ?? 0) + 1;
          failures.push(`${describeRequest()}\n    → no answer: ${(error as Error).message} ${(error as { cause?: Error }).cause?.message ?? ''}`);
          continue;
        }
        if (LOG) appendFileSync(LOG, `end ${index} ${answer.status} ${Date.now() - t0} ms ${process.memoryUsage().heapUsed >> 20} MiB\n`);
        count.byStatus[answer.status] = (count.byStatus[answer.status] ?? 0) + 1;
        const problems = problemsOf(answer, headers['x-request-id'], route.gateway);
        const ok = answer.status >= 200 && answer.status < 300;
        if (ok && route.effect === 'must-fail') problems.push('a body that must be refused was accepted');
        if (ok && route.effect === 'creates-tenant') createdTenants.add((answer.json as { id: string }).id);
        if (ok && route.effect === 'creates-credential') createdCredentials.add((answer.json as { id: string }).id);
        if (problems.length > 0) failures.push(`${describeRequest()}\n    → ${answer.status} ${preview(answer.text, 400)}\n    problems: ${problems.join('; ')}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const seconds = (Date.now() - started) / 1000;

    const table = [...counts.entries()].map(([name, c]) => `  ${name.padEnd(44)} ${String(c.sent).padStart(5)}  ${JSON.stringify(c.byStatus)}`);
    const summary = `fuzz seed ${SEED} (VERITY_FUZZ_SEED=${SEED} to replay): ${jobs.length} requests in ${seconds.toFixed(1)} s\n${table.join('\n')}`;
    console.log(summary);
    if (failures.length > 0) {
      const file = join(tmpdir(), `verity-fuzz-${SEED}.txt`);
      writeFileSync(file, `${summary}\n\n${failures.join('\n\n')}\n`);
      expect.fail(`${failures.length} bad answers (seed ${SEED}; all of them in ${file}). First ones:\n\n${failures.slice(0, 12).join('\n\n')}`);
    }
  }, 180_000);
});

describe('after the fuzzing', () => {
  it('left nothing half-written: policy versions, active version, entities and tenants are as before', async () => {
    const after = await snapshot();
    expect(after.versions).toEqual(before.versions);
    expect(after.active).toEqual(before.active);
    expect(after.entities).toEqual(before.entities);
    const expectedIds = [...before.tenants.map((t) => t.id), ...createdTenants].sort();
    expect(after.tenants.map((t) => t.id).sort()).toEqual(expectedIds);
    for (const tenant of before.tenants.filter((t) => t.id !== SCRATCH)) expect(after.tenants.find((t) => t.id === tenant.id)).toEqual(tenant);
  });

  it('left _system, demo\'s identity sources and clients, and the credentials as before', async () => {
    const after = await snapshot();
    expect(after.system).toEqual(before.system);
    expect(after.identity).toEqual(before.identity);
    // Created credentials are new; the victims may be revoked; nothing else changed.
    const victims = new Set([fx.victims.revoke]);
    const unchanged = (list: Credential[]) => list.filter((c) => !createdCredentials.has(c.id)).map((c) => (victims.has(c.id) ? { ...c, revokedAt: null } : c));
    expect(unchanged(after.credentials)).toEqual(unchanged(before.credentials));
    expect(after.credentials.filter((c) => createdCredentials.has(c.id)).map((c) => c.id).sort()).toEqual([...createdCredentials].sort());
  });

  it('is still healthy and still decides correctly', async () => {
    expect((await get('/healthz')).status).toBe(200);
    const allow = await post('/access/v1/evaluation', VALID_EVALUATION);
    expect(allow.status).toBe(200);
    expect((allow.json as { decision: unknown }).decision).toBe(true);
    const deny = await post('/tenants/demo/access/v1/evaluation', { subject: { type: 'user', id: BETH }, action: { name: 'can_create_todo' }, resource: { type: 'todo', id: 't-1' } });
    expect((deny.json as { decision: unknown }).decision).toBe(false);
    const cedar = await post('/tenants/demo/cedar/v1/is-authorized', { principal: { type: 'user', id: RICK }, action: { type: 'Action', id: 'can_delete_todo' }, resource: { type: 'todo', id: 't-1' } });
    expect((cedar.json as { decision: unknown }).decision).toBe('allow');
  });

  it('kept an intact audit chain', async () => {
    for (const tenant of ['demo', '_system']) {
      const answer = await get(`/admin/v1/tenants/${tenant}/audit/verify`);
      expect(answer.status, answer.text.slice(0, 500)).toBe(200);
      const report = answer.json as { ok: boolean; checked: number; problems: unknown[] };
      expect(report.problems.slice(0, 5), tenant).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.checked).toBeGreaterThan(0);
    }
  });
});

// Last: these cases change state when the server gets them wrong, and the deep Cedar ones
// break the Cedar engine for every later request, so nothing may run after them.
describe('bad input: cases that would spoil the rest of the run if the server got them wrong', () => {
  it('a push without files is 400 and creates no version (files is required)', async () => {
    const versions = await getJson('/admin/v1/tenants/demo/policies/versions');
    for (const body of [{}, { message: 'no files' }, { activate: true }]) {
      const answer = await post('/admin/v1/tenants/demo/policies', body);
      expect({ body, status: answer.status }).toEqual({ body, status: 400 });
      expect(problemsOf(answer, undefined)).toEqual([]);
    }
    expect(await getJson('/admin/v1/tenants/demo/policies/versions')).toEqual(versions);
  });

  it('a single-entity PUT whose body is not an object is refused and writes nothing', async () => {
    for (const body of ['5', '"text"', '[]', 'null', 'true']) {
      const answer = await send({ method: 'PUT', path: '/admin/v1/tenants/demo/entities/Role/fuzz-non-object', contentType: 'application/json', body });
      expect({ body, status: answer.status }).toEqual({ body, status: 400 });
      expect(problemsOf(answer, undefined)).toEqual([]);
    }
    expect((await get('/admin/v1/tenants/demo/entities/Role/fuzz-non-object')).status).toBe(404);
  });

  it('is 422 ERR_POLICY_PARSE, creates no version, and the server still decides afterwards', async () => {
    const versions = await getJson('/admin/v1/tenants/demo/policies/versions');
    for (const text of DEEP_CEDAR) {
      for (const dryRun of [true, false]) {
        const answer = await post('/admin/v1/tenants/demo/policies', { files: { 'deep.cedar': text }, dryRun });
        expect({ text: `${text.slice(0, 60)}… (${text.length} chars)`, dryRun, status: answer.status }).toEqual({ text: `${text.slice(0, 60)}… (${text.length} chars)`, dryRun, status: 422 });
        expect(problemsOf(answer, undefined)).toEqual([]);
      }
    }
    expect(await getJson('/admin/v1/tenants/demo/policies/versions')).toEqual(versions);
    const allow = await post('/access/v1/evaluation', VALID_EVALUATION);
    expect(allow.status, allow.text).toBe(200);
    expect((allow.json as { decision: unknown }).decision).toBe(true);
  });
});

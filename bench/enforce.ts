/**
 * Enforcement cost on a small HTTP route, in one run, as numbers and ratios (bench/RESULTS.md):
 * a Fastify route with no authorization (the baseline); the same route behind the Verity SDK
 * (`@verity/enforce`, `enforcer.enforce` in a Fastify preHandler) on a decision-cache hit, on a
 * cache miss answered by a real Verity PDP in a child process, and on a miss decided in-process by
 * the local source from that PDP's signed bundle; and, as peers, the same Cedar
 * policy through the Cedar team's Express middleware (`@cedar-policy/authorization-for-expressjs`)
 * and an equivalent casbin RBAC model in a Fastify preHandler. Every request goes over real HTTP
 * from a worker thread (bench/enforce-client.ts). `npm run bench` runs this as its third section;
 * `node --import @verity/cli/loader bench/enforce.ts [--json]` runs it alone. With `--pdp` this file is the PDP
 * child process.
 */
import { randomBytes } from 'node:crypto';
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOADER_EXEC_ARGV, startTsWorker } from './ts-worker.js';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { CedarInlineAuthorizationEngine, ExpressAuthorizationMiddleware } from '@cedar-policy/authorization-for-expressjs';
import { newEnforcer as newCasbinEnforcer, newModelFromString, StringAdapter } from 'casbin';
import express, { type Request } from 'express';
import Fastify, { type FastifyInstance, type preHandlerAsyncHookHandler } from 'fastify';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK, type JWTPayload } from 'jose';
import { bearerToken, createAuditShipper, createDecisionCache, createEnforcer, createLocalDecisionSource, createRemoteDecisionSource, refusalBody, type DecisionCache, type Enforcer } from '@verity/enforce';
import { startServer } from '@verity/server';
import type { EnforceClientJob, EnforceClientMessage, EnforceClientResults, EnforceTarget } from './enforce-client.js';
import { formatMachine, formatTable, machineFacts, withRatios, type Row } from './report.js';
import { measure, summarize, type Summary } from './stats.js';

const THIS_FILE = fileURLToPath(import.meta.url);
const TENANT = 'bench';
// The forked PDP (this file with --pdp) must hold the same admin token: it comes through the environment.
const ADMIN_TOKEN = process.env.BENCH_ADMIN_TOKEN ?? `vrt_${randomBytes(32).toString('base64url')}`;
const ISSUER = 'https://issuer.bench.example';
const AUDIENCE = 'https://api.bench.example';
const ALG = 'RS256';

/**
 * One schema for both Cedar deployments. The annotations are what the Cedar Express middleware
 * needs (its "SimpleRest" mapping: action per verb + path template, resource always
 * `Bench::Application::"Bench"`); Verity keeps them as plain schema annotations.
 */
const SCHEMA = `@mappingType("SimpleRest")
namespace Bench {
  entity UserGroup;
  entity User in [UserGroup];
  entity Application;
  @httpVerb("get")
  @httpPathTemplate("/docs/{id}")
  action "GET /docs/{id}" appliesTo { principal: [User], resource: [Application], context: {} };
}
`;
/** The policy, word for word the same in Verity and in the Cedar Express middleware. */
const POLICY = `@id("readers")
permit (principal in Bench::UserGroup::"readers", action == Bench::Action::"GET /docs/{id}", resource);
`;
/** The same rule for casbin: RBAC, role `readers` may GET /docs/:id; the bench user holds the role. */
const CASBIN_MODEL = `[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && keyMatch2(r.obj, p.obj) && r.act == p.act
`;
const CASBIN_POLICY = `p, readers, /docs/:id, GET
g, user-1, readers
g, user-2, guests
`;
/** What the SDK asks: the Cedar request the Cedar Express middleware builds for GET /docs/{id}. */
const ACTION = 'GET /docs/{id}';
const RESOURCE = { type: 'Bench::Application', id: 'Bench' };
const PATH = '/docs/42';

const TIMING: Omit<EnforceClientJob, 'targets'> = {
  rounds: 3,
  pauseMs: 50,
  sequential: { warmup: 1000, n: 20_000, budgetMs: 2400 },
  concurrent: { workers: 16, warmupRounds: 50, n: 50_000, budgetMs: 1500 },
};

/** The in-process diagnostics: the per-request work alone, and the remote source's round trip. */
const ALONE_TIMING = { warmup: 2000, n: 50_000, budgetMs: 800 };
const DECIDE_TIMING = { warmup: 300, n: 20_000, budgetMs: 1500 };
/** The cedar-wasm the Cedar Express middleware evaluates with: its engine package pins its own. */
function cedarExpressCedarVersion(): string {
  const fromMiddleware = createRequire(createRequire(import.meta.url).resolve('@cedar-policy/authorization-for-expressjs'));
  const fromEngine = createRequire(fromMiddleware.resolve('@cedar-policy/cedar-authorization'));
  return (fromEngine('@cedar-policy/cedar-wasm/nodejs') as typeof cedar).getCedarVersion();
}

/** The scenarios, in the order of the table (they run in another order: see `RUN_ORDER`). */
const SCENARIOS = {
  baseline: 'Fastify, no authorization (baseline)',
  sdkHit: 'Fastify + Verity SDK, cache hit',
  sdkMiss: 'Fastify + Verity SDK, cache miss, remote PDP',
  sdkLocal: 'Fastify + Verity SDK, cache miss, local source',
  casbin: 'Fastify + jose.jwtVerify + casbin RBAC',
  cedarExpress: 'Express 5 + jose.jwtVerify + Cedar Express middleware',
  jwtOnly: 'Fastify + jose.jwtVerify, no authorization (diagnostic)',
  expressPlain: 'Express 5, no authorization (diagnostic)',
} as const;
type ScenarioKey = keyof typeof SCENARIOS;
/**
 * Each round visits the services in this order: the remote miss last, so the PDP's audit writes
 * after it have the client's pause to settle in before the next round's baseline.
 */
const RUN_ORDER: ScenarioKey[] = ['baseline', 'sdkHit', 'sdkLocal', 'jwtOnly', 'casbin', 'expressPlain', 'cedarExpress', 'sdkMiss'];

const stderrLog = (line: string) => process.stderr.write(`${line}\n`);

// ---------------------------------------------------------------------------------------------
// The PDP child process: a real Verity server on a throwaway on-disk store, as `npm start` uses.

async function runPdp(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'verity-bench-pdp-'));
  const server = await startServer({ port: 0, host: '127.0.0.1', dataDir, decisionAuth: 'open', adminToken: ADMIN_TOKEN, print: () => {}, logLevel: 'warn' });
  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
    await rm(`${dataDir}.master-key`, { force: true });
    process.exit(0);
  };
  process.on('message', (message) => {
    if (message === 'close') void close();
  });
  // The parent went away without saying so: do not outlive it.
  process.on('disconnect', () => void close());
  process.send?.({ url: server.url });
}

interface Pdp {
  url: string;
  close(): Promise<void>;
}

function startPdp(): Promise<Pdp> {
  return new Promise((resolve, reject) => {
    // The child loads the same TypeScript loader as the bench (`node --import @verity/cli/loader`).
    const child: ChildProcess = fork(THIS_FILE, ['--pdp'], { execArgv: [...LOADER_EXEC_ARGV], env: { ...process.env, BENCH_ADMIN_TOKEN: ADMIN_TOKEN }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the PDP child exited (${code}) before it listened`)));
    child.once('message', (message: { url: string }) =>
      resolve({
        url: message.url,
        async close() {
          child.send('close');
          await exited;
        },
      }),
    );
  });
}

async function admin(pdp: Pdp, method: string, path: string, body: unknown): Promise<void> {
  const response = await fetch(pdp.url + path, { method, headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify(body) });
  if (response.status >= 300) throw new Error(`PDP ${method} ${path}: HTTP ${response.status} ${await response.text()}`);
}

/** The bench tenant: the schema, the policy, and the bench issuer as an inline-keys identity source. */
async function setUpTenant(pdp: Pdp, jwk: JWK): Promise<void> {
  await admin(pdp, 'POST', '/admin/v1/tenants', { id: TENANT, settings: { actionType: 'Bench::Action' } });
  await admin(pdp, 'POST', `/admin/v1/tenants/${TENANT}/policies`, { files: { 'policy.cedar': POLICY }, schema: SCHEMA, validationMode: 'strict' });
  await admin(pdp, 'PUT', `/admin/v1/tenants/${TENANT}/identity-sources/bench-idp`, {
    issuer: ISSUER,
    keys: { kind: 'inline', keys: [jwk] },
    audiences: [AUDIENCE],
    algorithms: [ALG],
    claims: { principalType: 'Bench::User', groupsClaim: 'groups', groupType: 'Bench::UserGroup' },
  });
}

// ---------------------------------------------------------------------------------------------
// The services under test, each a separate server on 127.0.0.1 serving GET /docs/:id.

interface Service {
  url: string;
  close(): Promise<void>;
}

async function listenFastify(app: FastifyInstance): Promise<Service> {
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, close: () => app.close() };
}

function fastifyRoute(preHandler?: preHandlerAsyncHookHandler): Promise<Service> {
  const app = Fastify();
  app.get<{ Params: { id: string } }>('/docs/:id', preHandler ? { preHandler } : {}, async (request) => ({ id: request.params.id }));
  return listenFastify(app);
}

async function listenExpress(app: express.Express): Promise<Service> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** The SDK as a Fastify preHandler: the framework-neutral `enforce`, answered as the adapters answer. */
function verityPreHandler(enforcer: Enforcer): preHandlerAsyncHookHandler {
  return async (request, reply) => {
    const token = bearerToken(request.headers);
    const requestId = request.headers['x-request-id'];
    const result = await enforcer.enforce({ action: ACTION, resource: RESOURCE, ...(token === undefined ? {} : { token }), ...(typeof requestId === 'string' ? { requestId } : {}) });
    if (!result.allowed) return reply.code(result.status).send(refusalBody(result));
  };
}

/** Decisions an enforcer made, by where they came from. */
interface Counts {
  cached: number;
  asked: number;
}

function counted(counts: Counts) {
  return (event: { cached: boolean }) => {
    if (event.cached) counts.cached++;
    else counts.asked++;
  };
}

export interface EnforceBenchResults {
  command: string;
  baseline: string;
  pdp: string;
  token: string;
  /** Sequential requests, ratio = p50 / the baseline's sequential p50. */
  sequential: Row[];
  /** `workers` callers in parallel, ratio = p50 / the baseline's concurrent p50. */
  concurrent: Row[];
  concurrency: number;
  /** Each scenario's per-request work alone, in-process; ratio = p50 / the baseline's sequential HTTP p50. */
  alone: Row[];
  checks: { sdkHit: Counts & { pdpCalls: number }; sdkMiss: Counts & { pdpCalls: number }; sdkLocal: Counts & { shipped: number } };
  seconds: number;
}

function runClient(job: EnforceClientJob, log: (line: string) => void): Promise<EnforceClientResults> {
  return new Promise((resolve, reject) => {
    const worker = startTsWorker(new URL('./enforce-client.ts', import.meta.url), job);
    worker.on('message', (message: EnforceClientMessage) => {
      if (message.kind === 'progress') return log(`enforce: ${message.line}…`);
      void worker.terminate();
      if (message.kind === 'done') resolve(message.results);
      else reject(new Error(`enforce HTTP client: ${message.error}`));
    });
    worker.once('error', reject);
  });
}

export async function runEnforceBench(log: (line: string) => void = stderrLog): Promise<EnforceBenchResults> {
  const started = Date.now();
  log('enforce: starting the Verity PDP (child process) and the services…');
  const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'bench-enforce', alg: ALG, use: 'sig' };
  const iat = Math.floor(Date.now() / 1000);
  const sign = (sub: string, groups: string[]) =>
    new SignJWT({ groups, scope: 'docs:read' }).setProtectedHeader({ alg: ALG, kid: 'bench-enforce', typ: 'at+jwt' }).setIssuer(ISSUER).setAudience(AUDIENCE).setSubject(sub).setIssuedAt(iat).setExpirationTime(iat + 3600).sign(privateKey);
  const reader = await sign('user-1', ['readers']);
  const guest = await sign('user-2', ['guests']);

  const pdp = await startPdp();
  const services: Service[] = [];
  const closers: Array<() => Promise<void>> = [];
  try {
    await setUpTenant(pdp, jwk);

    // The SDK: one remote source per enforcer, counting the evaluations it sends the PDP.
    const pdpCalls = { sdkHit: 0, sdkMiss: 0 };
    const remote = (which: keyof typeof pdpCalls) =>
      createRemoteDecisionSource({
        url: pdp.url,
        // Generous: a slow answer under load must show in p99, not as a 503 that stops the run.
        timeoutMs: 5000,
        fetch: (input, init) => {
          pdpCalls[which]++;
          return fetch(input, init);
        },
      });
    const hitCounts: Counts = { cached: 0, asked: 0 };
    const missCounts: Counts = { cached: 0, asked: 0 };
    // A TTL longer than the run, so every request after the first is a hit (the token's exp still bounds it).
    const cache: DecisionCache = createDecisionCache({ ttlMs: 600_000 });
    const hitEnforcer = createEnforcer({ source: remote('sdkHit'), cache, tenant: TENANT, audience: AUDIENCE, tier: 'bench-hit', onDecision: counted(hitCounts) });
    // No cache: every request asks the PDP (the same question each time, so the PDP's own
    // verified-token cache hits; see RESULTS.md).
    const missEnforcer = createEnforcer({ source: remote('sdkMiss'), tenant: TENANT, audience: AUDIENCE, tier: 'bench-miss', onDecision: counted(missCounts) });
    // The local source: the tenant's signed bundle from the PDP, decided in-process (Cedar engine
    // and token check), every decision shipped to the PDP's audit. No cache either, so every
    // request is decided. It holds the tenant's `pep-local` credential (only a PEP of the tenant
    // may report its decisions); the admin credential reads the bundle key's thumbprint to pin,
    // as an operator would.
    const localCounts: Counts = { cached: 0, asked: 0 };
    const issued = await fetch(`${pdp.url}/admin/v1/credentials`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify({ role: 'pep-local', tenant: TENANT, label: 'bench local PEP' }) });
    if (issued.status !== 201) throw new Error(`PDP POST /admin/v1/credentials: HTTP ${issued.status} ${await issued.text()}`);
    const pepLocal = ((await issued.json()) as { token: string }).token;
    const shipper = createAuditShipper({ url: pdp.url, tenant: TENANT, credential: pepLocal, spoolDir: null });
    const keys = (await (await fetch(`${pdp.url}/tenants/${TENANT}/bundle/keys`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { thumbprints: string[] };
    const local = createLocalDecisionSource({ url: pdp.url, tenant: TENANT, credential: pepLocal, shipper, bundleKeyThumbprints: keys.thumbprints });
    closers.push(() => local.close(), () => shipper.close({ timeoutMs: 5000 }));
    await local.ready;
    if (local.policyVersion === null) throw new Error('the local decision source has no bundle');
    const localEnforcer = createEnforcer({ source: local, tenant: TENANT, audience: AUDIENCE, tier: 'bench-local', onDecision: counted(localCounts) });

    // The peers authenticate the token themselves, as their docs expect of the app: jose.
    const jwks = createLocalJWKSet({ keys: [jwk] });
    const verifyOptions = { issuer: ISSUER, audience: AUDIENCE, algorithms: [ALG] };
    const claimsOf = async (authorization: string | undefined): Promise<JWTPayload | undefined> => {
      const token = bearerToken({ authorization });
      if (token === undefined) return undefined;
      try {
        return (await jwtVerify(token, jwks, verifyOptions)).payload;
      } catch {
        return undefined;
      }
    };

    const casbin = await newCasbinEnforcer(newModelFromString(CASBIN_MODEL), new StringAdapter(CASBIN_POLICY));
    if (!(await casbin.enforce('user-1', PATH, 'GET')) || (await casbin.enforce('user-2', PATH, 'GET'))) throw new Error('casbin: the model does not decide as the Cedar policy does');

    const schemaJson = cedar.schemaToJson(SCHEMA);
    if (schemaJson.type !== 'success') throw new Error('the bench schema does not parse');
    const stringifiedSchema = { type: 'jsonString' as const, schema: JSON.stringify(schemaJson.json) };
    const claimsByRequest = new WeakMap<Request, JWTPayload>();
    const cedarEngine = new CedarInlineAuthorizationEngine({ staticPolicies: POLICY, schema: stringifiedSchema });
    const cedarExpress = new ExpressAuthorizationMiddleware({
      schema: stringifiedSchema,
      authorizationEngine: cedarEngine,
      principalConfiguration: {
        type: 'custom',
        getPrincipalEntity: async (request) => {
          const claims = claimsByRequest.get(request) as JWTPayload;
          const groups = Array.isArray(claims.groups) ? (claims.groups as string[]) : [];
          return { uid: { type: 'Bench::User', id: String(claims.sub) }, attrs: {}, parents: groups.map((id) => ({ type: 'Bench::UserGroup', id })) };
        },
      },
    });

    const urls = {} as Record<ScenarioKey, string>;
    const add = async (key: ScenarioKey, service: Promise<Service>) => {
      const running = await service;
      services.push(running);
      urls[key] = running.url + PATH;
    };
    await add('baseline', fastifyRoute());
    await add('sdkHit', fastifyRoute(verityPreHandler(hitEnforcer)));
    await add('sdkMiss', fastifyRoute(verityPreHandler(missEnforcer)));
    await add('sdkLocal', fastifyRoute(verityPreHandler(localEnforcer)));
    await add(
      'jwtOnly',
      fastifyRoute(async (request, reply) => {
        if ((await claimsOf(request.headers.authorization)) === undefined) return reply.code(401).send({ code: 'ERR_TOKEN_INVALID' });
      }),
    );
    await add(
      'casbin',
      fastifyRoute(async (request, reply) => {
        const claims = await claimsOf(request.headers.authorization);
        if (claims?.sub === undefined) return reply.code(401).send({ code: 'ERR_TOKEN_INVALID' });
        if (!(await casbin.enforce(claims.sub, request.url, request.method))) return reply.code(403).send({ code: 'ERR_DENIED' });
      }),
    );
    const plain = express();
    plain.get('/docs/:id', (request, response) => void response.json({ id: request.params.id }));
    await add('expressPlain', listenExpress(plain));
    const guarded = express();
    guarded.use(async (request, response, next) => {
      const claims = await claimsOf(request.headers.authorization);
      if (claims?.sub === undefined) return void response.status(401).json({ code: 'ERR_TOKEN_INVALID' });
      claimsByRequest.set(request, claims);
      next();
    });
    guarded.use(cedarExpress.middleware);
    guarded.get('/docs/:id', (request, response) => void response.json({ id: request.params.id }));
    await add('cedarExpress', listenExpress(guarded));

    // The Cedar Express middleware answers a deny with 401 ("Not authorized with explicit deny").
    const denyStatus: Partial<Record<ScenarioKey, number>> = { sdkHit: 403, sdkMiss: 403, sdkLocal: 403, casbin: 403, cedarExpress: 401 };
    const targets: EnforceTarget[] = RUN_ORDER.map((key) => {
      const status = denyStatus[key];
      return { key, url: urls[key], token: reader, ...(status === undefined ? {} : { deny: { token: guest, status } }) };
    });
    const results = await runClient({ targets, ...TIMING }, log);

    // The hit scenario must have asked the PDP only for its two checks (allowed and refused
    // caller) and the miss scenario for every request.
    const served = (key: ScenarioKey) => 2 + TIMING.sequential.warmup + (results[key]?.sequential.samples.length ?? 0) + TIMING.concurrent.workers * TIMING.concurrent.warmupRounds + (results[key]?.concurrent.samples.length ?? 0);
    if (pdpCalls.sdkHit !== 2 || hitCounts.asked !== 2 || hitCounts.cached !== served('sdkHit') - 2) throw new Error(`SDK cache hit: ${pdpCalls.sdkHit} PDP calls, ${hitCounts.asked} asked, ${hitCounts.cached} cached of ${served('sdkHit')}`);
    if (missCounts.cached !== 0 || missCounts.asked !== served('sdkMiss') || pdpCalls.sdkMiss !== served('sdkMiss')) throw new Error(`SDK cache miss: ${pdpCalls.sdkMiss} PDP calls, ${missCounts.cached} cached of ${served('sdkMiss')}`);
    if (localCounts.cached !== 0 || localCounts.asked !== served('sdkLocal')) throw new Error(`SDK local: ${localCounts.asked} decided of ${served('sdkLocal')}`);
    await shipper.flush();
    const shipped = shipper.stats();
    if (shipped.delivered !== served('sdkLocal') || shipped.dropped !== 0) throw new Error(`SDK local: ${shipped.delivered} decisions shipped to the audit, ${shipped.dropped} dropped, of ${served('sdkLocal')}`);
    const checks = { sdkHit: { ...hitCounts, pdpCalls: pdpCalls.sdkHit }, sdkMiss: { ...missCounts, pdpCalls: pdpCalls.sdkMiss }, sdkLocal: { ...localCounts, shipped: shipped.delivered } };

    // Diagnostics, after the HTTP runs and timed in this process: each row's per-request work
    // alone, without HTTP or a framework in front of it.
    log('enforce: per-request work alone, in-process (diagnostics)…');
    const alone: Summary[] = [];
    const time = async (scenario: string, fn: () => Promise<unknown>, timing: { warmup: number; n: number; budgetMs: number } = ALONE_TIMING) => {
      const run = await measure(fn, timing);
      alone.push(summarize(scenario, run.samples, run.wallNs));
    };
    await time('Verity SDK enforcer.enforce, cache hit', async () => {
      if (!(await hitEnforcer.enforce({ token: reader, action: ACTION, resource: RESOURCE })).allowed) throw new Error('the SDK refused the bench reader');
    });
    await time(`jose.jwtVerify ${ALG} (the peers' authentication)`, async () => {
      if ((await claimsOf(`Bearer ${reader}`))?.sub !== 'user-1') throw new Error('jose refused the bench reader');
    });
    await time('casbin enforce', async () => {
      if (!(await casbin.enforce('user-1', PATH, 'GET'))) throw new Error('casbin refused the bench reader');
    });
    const principal = { uid: { type: 'Bench::User', id: 'user-1' }, attrs: {}, parents: [{ type: 'Bench::UserGroup', id: 'readers' }] };
    const cedarRequest = { principal: principal.uid, action: { type: 'Bench::Action', id: ACTION }, resource: RESOURCE, context: {} };
    await time(`Cedar Express engine isAuthorized (cedar ${cedarExpressCedarVersion()})`, async () => {
      if ((await cedarEngine.isAuthorized(cedarRequest, [principal])).type !== 'allow') throw new Error('the Cedar Express engine refused the bench reader');
    });
    const question = { tenant: TENANT, token: reader, audience: AUDIENCE, action: ACTION, resource: RESOURCE, context: {}, requestId: 'bench-enforce-decide', tier: 'bench-decide' };
    await time('Verity SDK local source.decide (in-process bundle)', async () => {
      if ((await local.decide(question)).decision !== 'allow') throw new Error('the local source denied the bench reader');
    });
    const bare = createRemoteDecisionSource({ url: pdp.url, timeoutMs: 5000 });
    await time(
      'Verity SDK remote source.decide (fetch → PDP child)',
      async () => {
        if ((await bare.decide(question)).decision !== 'allow') throw new Error('the PDP denied the bench reader');
      },
      DECIDE_TIMING,
    );

    const order = Object.keys(SCENARIOS) as ScenarioKey[];
    const pick = (phase: 'sequential' | 'concurrent', suffix: string): Summary[] =>
      order.map((key) => {
        const run = results[key]?.[phase];
        if (!run) throw new Error(`${key}: no ${phase} results`);
        return summarize(`${SCENARIOS[key]}${suffix}`, run.samples, run.wallNs);
      });
    const sequential = pick('sequential', '');
    const concurrent = pick('concurrent', `, concurrency ${TIMING.concurrent.workers}`);
    return {
      command: 'npm run bench',
      baseline: 'p50 of the Fastify route with no authorization, in the same phase (sequential or concurrent)',
      pdp: 'Verity startServer in a child process (on-disk PGlite store, audit on, decisions open), token-in decisions over HTTP keep-alive (global fetch)',
      token: `${ALG}, inline-keys identity source; the peers verify it with jose.jwtVerify on every request`,
      sequential: withRatios(sequential, sequential[0]?.p50Us ?? Number.NaN),
      concurrent: withRatios(concurrent, concurrent[0]?.p50Us ?? Number.NaN),
      concurrency: TIMING.concurrent.workers,
      alone: withRatios(alone, sequential[0]?.p50Us ?? Number.NaN),
      checks,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    for (const service of services) await service.close();
    for (const close of closers) await close();
    await pdp.close();
  }
}

export function formatEnforceSection(results: EnforceBenchResults): string {
  return [
    `enforcement on GET /docs/:id over HTTP keep-alive; ratio = p50 / the no-authorization Fastify route's p50 in the same phase`,
    '',
    formatTable(results.sequential),
    '',
    formatTable(results.concurrent),
    '',
    `the per-request work alone, in-process (no HTTP, no framework); ratio = p50 / the no-authorization route's sequential HTTP p50`,
    '',
    formatTable(results.alone),
    '',
    `PDP: ${results.pdp}`,
    `checks: cache-hit enforcer asked the PDP ${results.checks.sdkHit.pdpCalls} times for ${results.checks.sdkHit.cached + results.checks.sdkHit.asked} requests; cache-miss enforcer ${results.checks.sdkMiss.pdpCalls} times for ${results.checks.sdkMiss.asked} requests; local source decided ${results.checks.sdkLocal.asked} and shipped ${results.checks.sdkLocal.shipped} to the audit`,
    `enforcement section took ${results.seconds.toFixed(1)} s`,
  ].join('\n');
}

if (process.argv[1] === THIS_FILE) {
  if (process.argv.includes('--pdp')) {
    runPdp().catch((error: unknown) => {
      process.stderr.write(`bench PDP failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    });
  } else {
    runEnforceBench()
      .then((results) => {
        const machine = machineFacts(cedar.getCedarVersion());
        if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify({ machine, enforce: { ...results, command: 'node --import @verity/cli/loader bench/enforce.ts' } }, null, 2)}\n`);
        else process.stdout.write(`\nmachine: ${formatMachine(machine)}\n\n${formatEnforceSection(results)}\n`);
      })
      .catch((error: unknown) => {
        process.stderr.write(`enforce bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
        process.exitCode = 1;
      });
  }
}

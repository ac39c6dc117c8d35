/**
 * One store through Verity's three decision paths — the PDP over HTTP (Cedar-native and
 * AuthZEN endpoints), the SDK's local mode on the tenant's signed bundle, and `verity policy
 * test` run in-process on a folder — each request judged against cedar-wasm's answer.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringifyJson } from '@verity/core';
import { createLocalDecisionSource, isEnforceError } from '@verity/enforce';
import { runCli } from '@verity/cli';
import type { OracleAnswer, OracleThreads } from './cedar-oracle.js';
import { checkOracle, record as recordVerdict, type Tally } from './judge.js';
import type { OracleRequest, OracleStore, Outcome, PathName } from './model.js';

export interface Pdp {
  url: string;
  /** Credential for admin calls and the bundle (the PDP's decisions are open). */
  adminToken: string;
}

export interface RunOptions {
  /** Which paths to run (default all). */
  paths?: readonly PathName[];
  /** Scratch folder for `policy test` folders. */
  scratch: string;
  /** HTTP decisions in flight at once per store (default 8). */
  concurrency?: number;
  /** Where the oracle runs. */
  oracle: OracleThreads;
  /** Told every verdict (for reports that follow particular requests). */
  onJudged?: (event: { path: PathName; store: OracleStore; request: OracleRequest; oracle: OracleAnswer; outcome: Outcome; verdict: string; detail: string }) => void;
}

interface Answer {
  status: number;
  body: unknown;
}

/** `value.a.b…`, or undefined where the shape is not there. */
function field(value: unknown, ...path: string[]): unknown {
  let at = value;
  for (const key of path) at = typeof at === 'object' && at !== null ? (at as Record<string, unknown>)[key] : undefined;
  return at;
}

const str = (value: unknown) => String(value ?? '');

async function call(pdp: Pdp, method: string, path: string, body?: unknown, auth = true): Promise<Answer> {
  const response = await fetch(pdp.url + path, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(auth ? { authorization: `Bearer ${pdp.adminToken}` } : {}) },
    ...(body === undefined ? {} : { body: stringifyJson(body) }),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: response.status, body: parsed };
}

/** The tenant's bundle-key thumbprints, read over the admin API as an operator pins them. */
async function bundleKeyThumbprintsOf(pdp: Pdp, tenant: string): Promise<string[]> {
  const thumbprints = field((await call(pdp, 'GET', `/tenants/${tenant}/bundle/keys`)).body, 'thumbprints');
  if (!Array.isArray(thumbprints)) throw new Error(`no bundle keys for tenant ${tenant}`);
  return thumbprints as string[];
}

const isRefusal = (a: Answer) => a.status >= 400 && a.status < 500 && typeof field(a.body, 'code') === 'string';

/** Notes a decision whose record the audit store cannot hold (a U+0000 in it). */
function noteUnauditable(tally: Tally, store: OracleStore, a: Answer): void {
  if (a.status !== 200 || !JSON.stringify(a.body).includes('\\u0000')) return;
  tally.unauditable.count += 1;
  if (tally.unauditable.stores.length < 20 && !tally.unauditable.stores.includes(store.name)) tally.unauditable.stores.push(store.name);
}

function httpOutcome(a: Answer, read: (body: unknown) => Outcome): Outcome {
  if (a.status === 200) return read(a.body);
  if (isRefusal(a)) return { kind: 'refused', code: str(field(a.body, 'code')), stage: 'request', message: str(field(a.body, 'message')) };
  return { kind: 'failed', message: `HTTP ${a.status} ${JSON.stringify(a.body).slice(0, 500)}` };
}

/** A decision as the PDP wrote it; anything else is kept visible (and will not match). */
const decisionOf = (value: unknown): 'allow' | 'deny' => (value === 'allow' || value === 'deny' ? value : (`(not a decision: ${String(value)})` as 'deny'));
const idsOf = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : ['(missing)']);
const errorIds = (errors: unknown): string[] => (Array.isArray(errors) ? errors.map((e) => String((e as { policyId?: unknown }).policyId ?? '(none)')) : ['(errors missing)']);

/** Why an AuthZEN request cannot say this Cedar request, or undefined when it can. */
export function authzenGap(request: OracleRequest, actionType: string): string | undefined {
  if (request.action.type !== actionType) return `action type ${request.action.type.length > 40 ? 'NS::…::Action' : request.action.type} is not the tenant's action type ${actionType}`;
  if (request.action.id === '') return 'empty action name';
  if (request.action.id.length > 1024 || request.principal.id.length > 1024 || request.resource.id.length > 1024) return 'id longer than 1024 characters';
  return undefined;
}

function authzenBody(request: OracleRequest) {
  const properties = (on: 'principal' | 'resource') => (request.overlay?.on === on ? { properties: request.overlay.attrs } : {});
  return {
    subject: { type: request.principal.type, id: request.principal.id, ...properties('principal') },
    action: { name: request.action.id },
    resource: { type: request.resource.type, id: request.resource.id, ...properties('resource') },
    context: request.context,
  };
}

function cedarBody(request: OracleRequest) {
  const { principal, action, resource, context, overlay } = request;
  return { principal, action, resource, context, ...(overlay ? { entities: [{ uid: overlay.on === 'principal' ? principal : resource, attrs: overlay.attrs, parents: [] }] } : {}) };
}

/** Run `fn` over `items` with at most `limit` in flight; results in order. */
export async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

interface Prepared {
  /** Why no decision path can run (push or import refused), or null. */
  setup: Outcome | null;
  validateRequests: boolean;
  actionType: string;
}

/** Create the tenant, push its store, import its entities. */
async function prepareTenant(pdp: Pdp, store: OracleStore, tally: Tally): Promise<Prepared> {
  let created = await call(pdp, 'POST', '/admin/v1/tenants', { id: store.tenant, settings: store.settings });
  if (created.status === 400 && store.settings.validateRequests !== undefined && /validateRequests/.test(str(field(created.body, 'message')))) {
    // The admin API may not take this setting: the tenant then decides without request
    // validation, and the oracle is asked the same way (it reads the tenant back below).
    const { validateRequests: _, ...rest } = store.settings;
    created = await call(pdp, 'POST', '/admin/v1/tenants', { id: store.tenant, settings: rest });
  }
  if (created.status !== 201) throw new Error(`tenant ${store.tenant}: ${created.status} ${JSON.stringify(created.body)}`);
  const tenant = await call(pdp, 'GET', `/admin/v1/tenants/${store.tenant}`);
  const settings = (field(tenant.body, 'settings') ?? {}) as OracleStore['settings'];
  const prepared = { validateRequests: settings.validateRequests === true && store.schema !== undefined, actionType: settings.actionType ?? 'Action' };
  const pushed = await call(pdp, 'POST', `/admin/v1/tenants/${store.tenant}/policies`, {
    files: store.files,
    links: store.links,
    validationMode: store.validationMode,
    ...(store.schema === undefined ? {} : { schema: store.schema }),
  });
  if (pushed.status !== 201) {
    if (!isRefusal(pushed)) return { ...prepared, setup: { kind: 'failed', message: `push: HTTP ${pushed.status} ${JSON.stringify(pushed.body).slice(0, 500)}` } };
    const code = str(field(pushed.body, 'code'));
    const message = str(field(pushed.body, 'message'));
    tally.setupRefusals.push({ store: store.name, stage: 'push', code, message: `${message} ${JSON.stringify(field(pushed.body, 'diagnostics') ?? []).slice(0, 300)}` });
    return { ...prepared, setup: { kind: 'refused', code, stage: 'push', message } };
  }
  const imported = await call(pdp, 'PUT', `/admin/v1/tenants/${store.tenant}/entities`, { entities: store.entities, mode: 'replace' });
  if (imported.status !== 200) {
    if (!isRefusal(imported)) return { ...prepared, setup: { kind: 'failed', message: `entities: HTTP ${imported.status} ${JSON.stringify(imported.body).slice(0, 500)}` } };
    const code = str(field(imported.body, 'code'));
    const message = str(field(imported.body, 'message'));
    tally.setupRefusals.push({ store: store.name, stage: 'entities', code, message: `${message} ${JSON.stringify(field(imported.body, 'diagnostics') ?? []).slice(0, 300)}` });
    return { ...prepared, setup: { kind: 'refused', code, stage: 'entities', message } };
  }
  // Verity's ids for the oracle's policies by equal text, to tell naming from decisions.
  const active = await call(pdp, 'GET', `/admin/v1/tenants/${store.tenant}/policies/versions/active`);
  const content = field(active.body, 'content') as { policies: Record<string, string>; templates: Record<string, string>; links: Array<{ id: string }> } | undefined;
  if (content) {
    const byText = new Map(Object.entries(store.oracleTexts).map(([id, text]) => [text.trim(), id]));
    store.idMapByText = {};
    for (const [id, text] of Object.entries(content.policies)) {
      const oracleId = byText.get(text.trim());
      if (oracleId !== undefined) store.idMapByText[id] = oracleId;
    }
    for (const link of content.links) store.idMapByText[link.id] = link.id;
  }
  return { ...prepared, setup: null };
}

/** The oracle's answers for one request: as the tenant validates, and without validation. */
class OracleAnswers {
  private readonly cache = new Map<boolean, Promise<OracleAnswer>>();
  constructor(
    private readonly oracle: OracleThreads,
    private readonly store: OracleStore,
    private readonly request: OracleRequest,
  ) {}
  get(validateRequest: boolean): Promise<OracleAnswer> {
    const validate = validateRequest && this.store.schema !== undefined;
    let answer = this.cache.get(validate);
    if (answer === undefined) {
      const validated = this.cache.get(true);
      const ask = () => this.oracle.ask(this.store.tenant, { ...this.request, validateRequest: validate });
      // Request validation only adds refusals: when the validated call decided, the
      // unvalidated one decides the same (one cedar-wasm call saved per request).
      answer = !validate && validated ? validated.then((v) => (v.ok ? v : ask())) : ask();
      this.cache.set(validate, answer);
    }
    return answer;
  }
}

async function runPdp(pdp: Pdp, store: OracleStore, prepared: Prepared, answers: OracleAnswers[], tally: Tally, paths: ReadonlySet<PathName>, concurrency: number): Promise<void> {
  await pool(store.requests, concurrency, async (request, i) => {
    const oracle = await (answers[i] as OracleAnswers).get(prepared.validateRequests);
    if (paths.has('pdp-http')) {
      const outcome =
        prepared.setup ??
        httpOutcome(
          await call(pdp, 'POST', `/tenants/${store.tenant}/cedar/v1/is-authorized`, cedarBody(request), false).then((a) => (noteUnauditable(tally, store, a), a)),
          (body) => ({ kind: 'decided', decision: decisionOf(field(body, 'decision')), reasons: idsOf(field(body, 'determiningPolicies')), errors: errorIds(field(body, 'errors')) }),
        );
      record(tally, 'pdp-http', store, request, oracle, outcome);
    }
    if (paths.has('pdp-authzen')) {
      const gap = authzenGap(request, prepared.actionType);
      const outcome: Outcome = gap
        ? { kind: 'inexpressible', why: gap }
        : (prepared.setup ??
          httpOutcome(await call(pdp, 'POST', `/tenants/${store.tenant}/access/v1/evaluation`, authzenBody(request), false), (body) => ({
            kind: 'decided',
            decision: field(body, 'decision') === true ? 'allow' : 'deny',
            reasons: idsOf(field(body, 'context', 'reason_admin', 'determining_policies')),
            errors: errorIds(field(body, 'context', 'reason_admin', 'errors')),
          })));
      record(tally, 'pdp-authzen', store, request, oracle, outcome);
    }
  });
}

async function runSdk(pdp: Pdp, store: OracleStore, prepared: Prepared, answers: OracleAnswers[], tally: Tally): Promise<void> {
  const source = prepared.setup ? null : createLocalDecisionSource({ url: pdp.url, tenant: store.tenant, credential: pdp.adminToken, bundleKeyThumbprints: await bundleKeyThumbprintsOf(pdp, store.tenant), follow: false, retryBackoff: { initialMs: 10_000, maxMs: 10_000 } });
  try {
    if (source) await source.ready;
    for (const [i, request] of store.requests.entries()) {
      const oracle = await (answers[i] as OracleAnswers).get(prepared.validateRequests);
      const gap = authzenGap(request, prepared.actionType);
      let outcome: Outcome;
      if (gap) outcome = { kind: 'inexpressible', why: gap };
      else if (prepared.setup || !source) outcome = prepared.setup as Outcome;
      else {
        try {
          const body = authzenBody(request);
          const decision = await source.decide({ tenant: store.tenant, subject: body.subject, action: body.action.name, resource: body.resource, context: body.context, requestId: 'oracle', tier: 'oracle' });
          outcome = { kind: 'decided', decision: decision.decision, reasons: decision.reasons };
        } catch (error) {
          if (isEnforceError(error) && error.code === 'ERR_ENFORCE_PDP_REFUSED' && error.pdpCode !== undefined) outcome = { kind: 'refused', code: error.pdpCode, stage: 'request', message: error.message };
          else outcome = { kind: 'failed', message: error instanceof Error ? `${(error as { code?: string }).code ?? error.name}: ${error.message}` : String(error) };
        }
      }
      record(tally, 'sdk-local', store, request, oracle, outcome);
    }
  } finally {
    await source?.close();
  }
}

/** A folder `verity policy test` reads: the store's files, entities, links, and one case per expressible request. */
async function writeFolder(dir: string, store: OracleStore, cases: Array<{ name: string; request: OracleRequest }>): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'tests'), { recursive: true });
  for (const [name, text] of Object.entries(store.files)) await writeFile(join(dir, name), text);
  if (store.schema !== undefined) await writeFile(join(dir, 'schema.cedarschema'), store.schema);
  await writeFile(join(dir, 'entities.json'), stringifyJson(store.entities));
  if (store.links.length > 0) await writeFile(join(dir, 'links.json'), stringifyJson(store.links));
  // The tenant's settings too: `policy test` decides with them, as the PDP does.
  await writeFile(join(dir, 'verity.json'), stringifyJson({ validationMode: store.validationMode, settings: store.settings }));
  await writeFile(join(dir, 'tests', 'cases.json'), stringifyJson(cases.map((c) => ({ name: c.name, request: authzenBody(c.request), expect: 'allow' }))));
}

interface CliCase {
  name: string;
  got: 'allow' | 'deny' | 'error';
  reasons: string[];
  errors: Array<{ policyId?: string; message: string }>;
}

async function runPolicyTest(store: OracleStore, answers: OracleAnswers[], tally: Tally, scratch: string): Promise<void> {
  // `policy test` decides with the folder and the tenant settings in its verity.json.
  const validateRequests = store.settings.validateRequests === true && store.schema !== undefined;
  const cases: Array<{ name: string; request: OracleRequest; index: number }> = [];
  const gaps = new Map<number, string>();
  store.requests.forEach((request, index) => {
    const gap = authzenGap(request, store.settings.actionType ?? 'Action');
    if (gap) gaps.set(index, gap);
    else cases.push({ name: `r${index}`, request, index });
  });
  let results = new Map<string, CliCase>();
  let whole: Outcome | null = null;
  if (cases.length > 0) {
    const dir = join(scratch, store.tenant);
    await writeFolder(dir, store, cases);
    let out = '';
    let err = '';
    const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: {}, fetch: globalThis.fetch, cwd: scratch };
    const code = await runCli(['policy', 'test', dir, '--json'], io);
    let parsed: unknown;
    try {
      parsed = JSON.parse(out);
    } catch {
      parsed = undefined;
    }
    const list = field(parsed, 'results');
    if (Array.isArray(list)) results = new Map((list as CliCase[]).map((r) => [r.name, r]));
    else if (typeof field(parsed, 'error', 'code') === 'string' && code === 3) whole = { kind: 'refused', code: str(field(parsed, 'error', 'code')), stage: 'build', message: str(field(parsed, 'error', 'message')) };
    else whole = { kind: 'failed', message: `verity policy test exited ${code}: ${(out + err).slice(0, 500)}` };
    await rm(dir, { recursive: true, force: true });
  }
  for (const [index, request] of store.requests.entries()) {
    const oracle = await (answers[index] as OracleAnswers).get(validateRequests);
    const gap = gaps.get(index);
    let outcome: Outcome;
    if (gap) outcome = { kind: 'inexpressible', why: gap };
    else if (whole) outcome = whole;
    else {
      const r = results.get(`r${index}`);
      if (!r) outcome = { kind: 'failed', message: 'no result for this case' };
      else if (r.got === 'error') {
        const message = r.errors[0]?.message ?? '';
        const code = /^(ERR_[A-Z_]+):/.exec(message)?.[1];
        outcome = code ? { kind: 'refused', code, stage: 'request', message } : { kind: 'failed', message };
      } else outcome = { kind: 'decided', decision: r.got, reasons: r.reasons, errors: r.errors.map((e) => e.policyId ?? '(none)') };
    }
    record(tally, 'policy-test', store, request, oracle, outcome);
  }
}

const hooks = new WeakMap<Tally, NonNullable<RunOptions['onJudged']>>();

function record(tally: Tally, path: PathName, store: OracleStore, request: OracleRequest, oracle: OracleAnswer, outcome: Outcome): void {
  const judged = recordVerdict(tally, path, store, request, oracle, outcome);
  hooks.get(tally)?.({ path, store, request, oracle, outcome, verdict: judged.verdict, detail: judged.detail });
}

/** Everything for one store: tenant, push, import, and every request through every path. */
export async function runStore(pdp: Pdp, store: OracleStore, tally: Tally, options: RunOptions): Promise<void> {
  if (options.onJudged) hooks.set(tally, options.onJudged);
  const paths = new Set<PathName>(options.paths ?? ['pdp-http', 'pdp-authzen', 'sdk-local', 'policy-test']);
  tally.stores += 1;
  tally.requests += store.requests.length;
  const { oracle } = options;
  oracle.setStore(store.tenant, { schema: store.schema, policies: store.oraclePolicies, entities: store.entities });
  try {
    const answers = store.requests.map((request) => new OracleAnswers(oracle, store, request));
    // The corpus's own expected answers were made with each request's validateRequest (true):
    // asked first, so the oracle thread works while the tenant is set up.
    const checked = Promise.all(store.requests.map(async (request, i) => request.expected && checkOracle(tally, request, await (answers[i] as OracleAnswers).get(true))));
    void checked.catch(() => undefined);
    const prepared = await prepareTenant(pdp, store, tally);
    if (paths.has('pdp-http') || paths.has('pdp-authzen')) await runPdp(pdp, store, prepared, answers, tally, paths, options.concurrency ?? 8);
    if (paths.has('sdk-local')) await runSdk(pdp, store, prepared, answers, tally);
    if (paths.has('policy-test')) await runPolicyTest(store, answers, tally, options.scratch);
    await checked;
  } finally {
    oracle.dropStore(store.tenant);
  }
}

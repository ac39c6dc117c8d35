/**
 * Replay (`POST /admin/v1/tenants/{t}/policies/replay`): a candidate policy version decided again
 * on the decisions the audit recorded, from the input each record kept. cedar-wasm's
 * `isAuthorized` is the oracle: on the same entities and context, a decision flips exactly when
 * the oracle decides the candidate otherwise than the recorded version.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runVerity } from './helpers/cli-run.js';
import { createClient, startTestServer } from './helpers/verity.js';

let server: Awaited<ReturnType<typeof startTestServer>>;
const base = '/admin/v1/tenants/rp';

const V1 = `@id("read-public") permit(principal, action == Action::"read", resource) when { resource.classification == "public" };
@id("read-eng") permit(principal, action == Action::"read", resource) when { principal.department == "eng" && principal.level >= 2 };
@id("write-owner") permit(principal, action == Action::"write", resource) when { resource.owner == principal && context.mfa };
@id("no-night") forbid(principal, action == Action::"write", resource) when { context.hour < 6 };`;

const V2 = `@id("read-public") permit(principal, action == Action::"read", resource) when { resource.classification == "public" };
@id("read-eng") permit(principal, action == Action::"read", resource) when { principal.department == "eng" && principal.level >= 3 };
@id("write-owner") permit(principal, action == Action::"write", resource) when { resource.owner == principal };
@id("no-night") forbid(principal, action == Action::"write", resource) when { context.hour < 7 };
@id("ops-write") permit(principal, action == Action::"write", resource) when { principal.department == "ops" && context.mfa };`;

interface Case {
  user: string;
  properties: { department: string; level: number };
  action: string;
  doc: string;
  context: { mfa: boolean; hour: number };
}

/** A small seeded generator: the same cases every run. */
function makeCases(n: number): Case[] {
  // mulberry32
  let seed = 14;
  const next = (k: number) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) % k);
  };
  return Array.from({ length: n }, () => ({
    user: `u${next(4)}`,
    properties: { department: ['eng', 'ops', 'sales'][next(3)]!, level: next(5) },
    action: ['read', 'write'][next(2)]!,
    doc: `d${next(5)}`,
    context: { mfa: next(2) === 1, hour: next(24) },
  }));
}

const docs = (owner0: string) =>
  Array.from({ length: 5 }, (_, i) => ({
    uid: { type: 'Doc', id: `d${i}` },
    attrs: { owner: { __entity: { type: 'User', id: i === 0 ? owner0 : `u${i}` } }, classification: i % 2 === 0 ? 'public' : 'secret' },
    parents: [],
  }));

function oracle(policies: string, entities: unknown[], c: Case): 'allow' | 'deny' {
  const answer = cedar.isAuthorized({
    principal: { type: 'User', id: c.user },
    action: { type: 'Action', id: c.action },
    resource: { type: 'Doc', id: c.doc },
    context: c.context,
    policies: { staticPolicies: policies },
    entities: [...entities, { uid: { type: 'User', id: c.user }, attrs: c.properties, parents: [] }] as never,
  });
  if (answer.type !== 'success') throw new Error(answer.errors.map((e) => e.message).join('; '));
  return answer.response.decision;
}

const CASES = makeCases(400);
/** The audit seq of each case's record, in case order. */
let seqs: number[] = [];
let v2: number;

beforeAll(async () => {
  server = await startTestServer({ decisionAuth: 'open' });
  expect((await server.admin.post('/admin/v1/tenants', { id: 'rp' })).status).toBe(201);
  expect((await server.admin.post(`${base}/policies`, { files: { 'p.cedar': V1 } })).status).toBe(201);
  expect((await server.admin.request('PUT', `${base}/entities`, { entities: docs('u0'), mode: 'replace' })).status).toBe(200);
  const pdp = createClient(server.url, null);
  for (let i = 0; i < CASES.length; i += 50) {
    const evaluations = CASES.slice(i, i + 50).map((c) => ({ subject: { type: 'User', id: c.user, properties: c.properties }, action: { name: c.action }, resource: { type: 'Doc', id: c.doc }, context: c.context }));
    const answer = await pdp.post('/tenants/rp/access/v1/evaluations', { evaluations });
    expect(answer.status).toBe(200);
    // The PDP decided as the oracle does on the active version.
    expect(answer.body.evaluations.map((e: { decision: boolean }) => (e.decision ? 'allow' : 'deny'))).toEqual(CASES.slice(i, i + 50).map((c) => oracle(V1, docs('u0'), c)));
  }
  // The candidate, stored but not activated.
  const pushed = await server.admin.post(`${base}/policies`, { files: { 'p.cedar': V2 }, activate: false });
  expect(pushed.status).toBe(201);
  v2 = pushed.body.version;
  const events = [];
  for (let after = 0; ; ) {
    const page = await server.admin.get(`${base}/audit?limit=1000&after=${after}`);
    events.push(...page.body.events);
    if (page.body.next === null) break;
    after = page.body.next;
  }
  expect(events).toHaveLength(CASES.length);
  seqs = events.map((e: { seq: number }) => e.seq);
}, 120_000);

afterAll(async () => {
  await server?.close();
});

const expectedFlips = (entities: unknown[]) => CASES.flatMap((c, i) => (oracle(V1, entities, c) !== oracle(V2, entities, c) ? [seqs[i]] : []));

describe('replay', () => {
  it('lists exactly the decisions the candidate flips, as cedar-wasm decides them, with both answers', async () => {
    const report = await server.admin.post(`${base}/policies/replay`, { version: v2, since: '1h' });
    expect(report.status).toBe(200);
    const expected = expectedFlips(docs('u0'));
    expect(expected.length).toBeGreaterThan(10);
    expect(report.body).toMatchObject({ tenant: 'rp', candidate: { version: v2 }, examined: CASES.length, replayed: CASES.length, skipped: 0, unreproducible: 0, flipped: expected.length, truncated: false });
    expect(report.body.flips.map((f: { seq: number }) => f.seq)).toEqual(expected);
    const first = report.body.flips[0];
    const c = CASES[seqs.indexOf(first.seq)]!;
    expect(first).toMatchObject({ principal: `User::"${c.user}"`, action: `Action::"${c.action}"`, resource: `Doc::"${c.doc}"`, recorded: { decision: oracle(V1, docs('u0'), c), policyVersion: 1 } });
    expect(first.candidate.decision).toBe(oracle(V2, docs('u0'), c));
    // The candidate was not activated, and replay recorded nothing.
    expect((await server.admin.get(`${base}/policies/versions/active`)).body.version).toBe(1);
    expect((await server.admin.get(`${base}/audit?limit=1000`)).body.events).toHaveLength(CASES.length);
  });

  it('replays files that are not stored, and the candidate equal to the recorded version flips nothing', async () => {
    const files = await server.admin.post(`${base}/policies/replay`, { candidate: { files: { 'p.cedar': V2 } } });
    expect(files.status).toBe(200);
    expect(files.body.candidate.version).toBeNull();
    expect(files.body.flipped).toBe(expectedFlips(docs('u0')).length);
    const same = await server.admin.post(`${base}/policies/replay`, { version: 1 });
    expect(same.body).toMatchObject({ replayed: CASES.length, flipped: 0, flips: [] });
  });

  it('compares two versions on the recorded inputs when given a baseline (policy diff --replay)', async () => {
    const reversed = await server.admin.post(`${base}/policies/replay`, { version: 1, baseline: v2 });
    expect(reversed.body).toMatchObject({ baseline: { version: v2 }, candidate: { version: 1 }, flipped: expectedFlips(docs('u0')).length });
    const flip = reversed.body.flips[0];
    const c = CASES[seqs.indexOf(flip.seq)]!;
    expect(flip.baseline.decision).toBe(oracle(V2, docs('u0'), c));
    expect(flip.candidate.decision).toBe(oracle(V1, docs('u0'), c));
    expect((await server.admin.post(`${base}/policies/replay`, { version: v2, baseline: v2 })).body.flipped).toBe(0);
  });

  it('stops at the limit and says so', async () => {
    const report = await server.admin.post(`${base}/policies/replay`, { version: v2, limit: 100 });
    expect(report.body).toMatchObject({ examined: 100, truncated: true });
    expect(report.body.flips.every((f: { seq: number }) => f.seq <= seqs[99]!)).toBe(true);
  });

  it('counts as unreproducible, never as flips, the decisions the stored entities no longer reproduce', async () => {
    // d0 changes owner: the recorded version would now decide some of d0's writes otherwise.
    expect((await server.admin.request('PUT', `${base}/entities`, { entities: docs('u5'), mode: 'replace' })).status).toBe(200);
    try {
      const report = await server.admin.post(`${base}/policies/replay`, { version: v2 });
      const changed = CASES.filter((c) => oracle(V1, docs('u0'), c) !== oracle(V1, docs('u5'), c));
      expect(changed.length).toBeGreaterThan(0);
      expect(report.body.unreproducible).toBe(changed.length);
      const expected = CASES.flatMap((c, i) =>
        oracle(V1, docs('u0'), c) === oracle(V1, docs('u5'), c) && oracle(V2, docs('u5'), c) !== oracle(V1, docs('u0'), c) ? [seqs[i]] : [],
      );
      expect(report.body.flips.map((f: { seq: number }) => f.seq)).toEqual(expected);
    } finally {
      await server.admin.request('PUT', `${base}/entities`, { entities: docs('u0'), mode: 'replace' });
    }
  });

  it('keeps the audit chain verifiable with the inputs in it', async () => {
    const verified = await server.admin.get(`${base}/audit/verify`);
    expect(verified.body).toMatchObject({ ok: true, checked: CASES.length, problems: [] });
    const events = (await server.admin.get(`${base}/audit?limit=1`)).body.events;
    expect(JSON.parse(events[0].input)).toMatchObject({ v: 1, context: CASES[0]!.context, overlays: [{ uid: { type: 'User', id: CASES[0]!.user }, attrs: CASES[0]!.properties }] });
  });

  it('runs one replay per tenant at a time: a second is refused (503 ERR_OVERLOADED) while the first runs, then runs', async () => {
    const request = { since: Date.now() - 3_600_000, limit: 50, candidate: { version: v2 } };
    const first = server.components.replay.replay('rp', request);
    await expect(server.components.replay.replay('rp', request)).rejects.toMatchObject({ code: 'ERR_OVERLOADED', status: 503 });
    expect((await first).examined).toBe(50);
    expect((await server.components.replay.replay('rp', request)).examined).toBe(50);
  });

  it('refuses bad requests with stable codes, and callers without policy.test and audit.read', async () => {
    expect((await server.admin.post(`${base}/policies/replay`, {})).body.code).toBe('ERR_REQUEST_INVALID');
    expect((await server.admin.post(`${base}/policies/replay`, { version: 1, since: 'yesterday' })).body.code).toBe('ERR_REQUEST_INVALID');
    expect((await server.admin.post(`${base}/policies/replay`, { version: 1, limit: 0 })).body.code).toBe('ERR_REQUEST_INVALID');
    expect((await server.admin.post(`${base}/policies/replay`, { version: 99 })).body.code).toBe('ERR_POLICY_VERSION_NOT_FOUND');
    const broken = await server.admin.post(`${base}/policies/replay`, { candidate: { files: { 'p.cedar': 'permit(' } } });
    expect(broken.status).toBe(422);
    expect(broken.body.code).toMatch(/^ERR_POLICY_/);
    expect((await server.admin.post('/admin/v1/tenants/nobody/policies/replay', { version: 1 })).body.code).toBe('ERR_TENANT_NOT_FOUND');
    const pep = await server.admin.post('/admin/v1/credentials', { role: 'pep', tenant: 'rp' });
    expect((await createClient(server.url, pep.body.token).post(`${base}/policies/replay`, { version: 1 })).status).toBe(403);
  });
});

describe('verity policy replay and policy diff --replay', () => {
  const verity = (argv: string[]) => runVerity(argv, { url: server.url });

  it('replays a folder or a stored version, prints each flip with both answers, and --exit-code fails on a flip', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'verity-replay-'));
    try {
      await writeFile(join(dir, 'p.cedar'), V2);
      const flips = expectedFlips(docs('u0')).length;
      const folder = await verity(['policy', 'replay', '--tenant', 'rp', dir, '--since', '1h']);
      expect(folder.code, folder.err).toBe(0);
      expect(folder.out).toContain(`replayed ${CASES.length} of ${CASES.length} decisions recorded since`);
      expect(folder.out).toContain(`: ${flips} would flip`);
      const c = CASES[seqs.indexOf(expectedFlips(docs('u0'))[0]!)]!;
      expect(folder.out).toContain(`~ `);
      expect(folder.out).toContain(`User::"${c.user}" Action::"${c.action}" Doc::"${c.doc}"`);
      expect(folder.out).toContain(`    recorded (version 1): ${oracle(V1, docs('u0'), c)}`);
      expect(folder.out).toContain(`    ${dir}: ${oracle(V2, docs('u0'), c)}`);
      expect((await verity(['policy', 'replay', '--tenant', 'rp', '--version', String(v2), '--exit-code'])).code).toBe(1);
      const json = JSON.parse((await verity(['policy', 'replay', '--tenant', 'rp', '--version', '1', '--json', '--exit-code'])).out);
      expect(json).toMatchObject({ flipped: 0, replayed: CASES.length });
      expect((await verity(['policy', 'replay', '--tenant', 'rp'])).code).toBe(2);
      expect((await verity(['policy', 'replay', '--tenant', 'rp', dir, '--version', '1'])).code).toBe(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('policy diff --tenant A B --replay shows the text changes and the recorded decisions that differ', async () => {
    const diff = await verity(['policy', 'diff', '--tenant', 'rp', '1', String(v2), '--replay', '--since', '1h', '--exit-code']);
    expect(diff.code, diff.err).toBe(1);
    expect(diff.out).toMatch(/~ policy read-eng/);
    expect(diff.out).toContain(`: ${expectedFlips(docs('u0')).length} would flip`);
    expect(diff.out).toContain('    baseline: ');
    expect((await verity(['policy', 'diff', 'a', 'b', '--replay'])).code).toBe(2);
  });
});

describe('hostile inputs a PEP reports (attack 14)', () => {
  const T = 'rhostile';
  // The Long past 2^53 sends the set to cedar-wasm (the compiled evaluator does not take it).
  const POLICIES = `@id("read") permit(principal, action == Action::"read", resource);
@id("n") permit(principal, action == Action::"write", resource) when { context.n == 9007199254740993 };`;
  const deep = '['.repeat(7900) + ']'.repeat(7900);
  const HOSTILE = [
    // Text a live request cannot carry (the body parser refuses unpaired surrogates), escaped into the input.
    String.raw`{"v":1,"context":{"x":{"__entity":{"type":"","id":"\ud800"}}},"overlays":[],"provided":[]}`,
    String.raw`{"v":1,"context":{},"overlays":[],"provided":[{"uid":{"type":"a b","id":"\udc00"},"attrs":{},"parents":[]}]}`,
    String.raw`{"v":1,"context":{},"overlays":[],"provided":[{"uid":{"type":"D","id":"d"},"attrs":{},"parents":[{"type":"","id":"\ud800"}]}]}`,
    String.raw`{"v":1,"context":{"\u0000":1},"overlays":[],"provided":[]}`,
    // Nested far past MAX_VALUE_DEPTH, in each place a value goes.
    `{"v":1,"context":{"x":${deep}},"overlays":[],"provided":[]}`,
    `{"v":1,"context":{},"overlays":[],"provided":[],"risk":{"x":${deep}}}`,
    `{"v":1,"context":{},"overlays":[{"uid":{"type":"User","id":"alice"},"attrs":{"x":${deep}}}],"provided":[]}`,
  ];
  const record = (input: string, time = new Date().toISOString()) => ({
    decisionId: randomUUID(),
    time,
    tenant: T,
    decision: 'deny',
    policyVersion: 1,
    latencyUs: 1,
    principal: { type: 'User', id: 'alice' },
    action: { type: 'Action', id: 'write' },
    resource: { type: 'Doc', id: 'd1' },
    reasons: [],
    errors: [],
    input,
  });
  const live = { subject: { type: 'User', id: 'alice' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd1' } };
  let pep: ReturnType<typeof createClient>;

  beforeAll(async () => {
    expect((await server.admin.post('/admin/v1/tenants', { id: T })).status).toBe(201);
    expect((await server.admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': POLICIES } })).status).toBe(201);
    pep = createClient(server.url, (await server.admin.post(`/admin/v1/tenants/${T}/credentials`, { role: 'pep' })).body.token);
  });

  it('skips inputs a live request could not carry, answers every replay, and never touches the live decisions', async () => {
    for (const input of HOSTILE) expect(input.length).toBeLessThanOrEqual(16_384);
    expect((await pep.post(`/tenants/${T}/audit/v1/decisions`, { records: HOSTILE.map((input) => record(input)) })).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      const replay = await server.admin.post(`/admin/v1/tenants/${T}/policies/replay`, { version: 1, since: '1h' });
      expect(replay.status, JSON.stringify(replay.body)).toBe(200);
      expect(replay.body).toMatchObject({ examined: HOSTILE.length, skipped: HOSTILE.length, replayed: 0 });
    }
    const after = await createClient(server.url, null).post(`/tenants/${T}/access/v1/evaluation`, live);
    expect(after.status, JSON.stringify(after.body)).toBe(200);
    expect(after.body.decision).toBe(true);
  });

  it('refuses a reported time that is not ISO 8601 UTC, and the CLI prints no control character a server sends', async () => {
    // V8's legacy date form with a comment: Date.parse takes it; as text it sorts after every ISO time.
    const time = `${new Date().toDateString()}(\u001b[2J\n0 would flip)`;
    expect(Number.isNaN(Date.parse(time))).toBe(false);
    const refused = await pep.post(`/tenants/${T}/audit/v1/decisions`, { records: [record('{"v":1,"context":{},"overlays":[],"provided":[]}', time)] });
    expect(refused.body.code).toBe('ERR_REQUEST_INVALID');
    // A policy id is any text a PEP reports: shown as a visible escape, never as a terminal escape.
    const reported = { ...record('{"v":1,"context":{},"overlays":[],"provided":[]}'), decision: 'allow', action: { type: 'Action', id: 'read' }, reasons: ['read\u001b[2J\r'] };
    expect((await pep.post(`/tenants/${T}/audit/v1/decisions`, { records: [reported] })).status).toBe(200);
    const out = (await runVerity(['audit', 'tail', '--tenant', T, '--limit', '1'], { url: server.url })).out;
    expect(out).toContain('read\\u{1b}[2J\\u{d}');
    expect(out).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/);
  });

  it('refuses a since before the earliest time a Date holds (400, not 500)', async () => {
    expect((await server.admin.get(`/admin/v1/tenants/${T}/audit/observe-report?since=200000000d`)).body.code).toBe('ERR_REQUEST_INVALID');
    expect((await server.admin.post(`/admin/v1/tenants/${T}/policies/replay`, { version: 1, since: '999999999d' })).body.code).toBe('ERR_REQUEST_INVALID');
  });
});

describe('a tenant that records no decision inputs (settings.recordDecisionInputs: false)', () => {
  const T = 'rnoinput';
  const asked: Case = { user: 'alice', properties: { department: 'eng', level: 3 }, action: 'read', doc: 'd1', context: { mfa: true, hour: 9 } };
  /** One decision, checked against cedar-wasm's: recording no input changes no answer. */
  const decide = async () => {
    const answer = await createClient(server.url, null).post(`/tenants/${T}/access/v1/evaluation`, { subject: { type: 'User', id: asked.user, properties: asked.properties }, action: { name: asked.action }, resource: { type: 'Doc', id: asked.doc }, context: asked.context });
    expect(answer.body.decision ? 'allow' : 'deny').toBe(oracle(V1, [], asked));
    return answer;
  };
  const events = async () => (await server.admin.get(`/admin/v1/tenants/${T}/audit?limit=100`)).body.events as Array<{ input?: string | null; principal: { id: string } }>;

  it('keeps no input in the audit, from the PDP or from a PEP report, and replay counts those decisions as skipped; turned on again, it records', async () => {
    expect((await server.admin.post('/admin/v1/tenants', { id: T, settings: { recordDecisionInputs: false } })).status).toBe(201);
    expect((await server.admin.post(`/admin/v1/tenants/${T}/policies`, { files: { 'p.cedar': V1 } })).status).toBe(201);
    expect((await decide()).status).toBe(200);
    // A PEP that still sends an input (its bundle predates the setting): dropped at ingest.
    const pep = createClient(server.url, (await server.admin.post(`/admin/v1/tenants/${T}/credentials`, { role: 'pep' })).body.token);
    const reported = { decisionId: randomUUID(), time: new Date().toISOString(), tenant: T, decision: 'deny', policyVersion: 1, latencyUs: 1, principal: { type: 'User', id: 'pep-bob' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: 'd1' }, reasons: [], errors: [], input: '{"v":1,"context":{"secret":"x"},"overlays":[],"provided":[]}' };
    expect((await pep.post(`/tenants/${T}/audit/v1/decisions`, { records: [reported] })).status).toBe(200);
    const recorded = await events();
    expect(recorded).toHaveLength(2);
    for (const event of recorded) expect(event.input ?? null).toBeNull();
    expect((await server.admin.post(`/admin/v1/tenants/${T}/policies/replay`, { version: 1, since: '1h' })).body).toMatchObject({ examined: 2, skipped: 2, replayed: 0 });

    expect((await server.admin.request('PATCH', `/admin/v1/tenants/${T}`, { settings: { recordDecisionInputs: true } })).status).toBe(200);
    expect((await decide()).status).toBe(200);
    const last = (await events()).at(-1)!;
    expect(JSON.parse(last.input!)).toMatchObject({ v: 1, context: { mfa: true, hour: 9 } });
    expect((await server.admin.post(`/admin/v1/tenants/${T}/policies/replay`, { version: 1, since: '1h' })).body).toMatchObject({ examined: 3, skipped: 2, replayed: 1 });
    expect((await server.admin.get(`/admin/v1/tenants/${T}/audit/verify`)).body).toMatchObject({ ok: true });
    // Not a boolean: refused, nothing changed.
    expect((await server.admin.request('PATCH', `/admin/v1/tenants/${T}`, { settings: { recordDecisionInputs: 'no' } })).body.code).toBe('ERR_TENANT_INVALID');
  });
});

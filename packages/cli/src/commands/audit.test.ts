/** Tests for `audit tail` and `audit verify` against a recording server. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '@verity/core';
import { CompactSign, exportJWK, generateKeyPair } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../errors.js';
import { run, startFakeServer, type FakeServer, type RecordedRequest } from '../test-helpers.js';

let server: FakeServer | undefined;
afterEach(async () => {
  await server?.close();
});

function event(seq: number): AuditEvent {
  return {
    seq, prevHash: '0', hash: '1', decisionId: `d${seq}`, time: `2025-01-01T00:00:0${seq % 10}.000Z`, tenant: 'acme', requestId: null, tier: null,
    principal: { type: 'User', id: 'alice' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: `d${seq}` },
    decision: seq % 2 === 0 ? 'allow' : 'deny', reasons: seq % 2 === 0 ? ['p1'] : [], errors: [], policyVersion: 2, latencyUs: 10,
  };
}

/** A log of `events`, paged two at a time, with `next` = last seq while more remain. */
function pagedAudit(events: AuditEvent[]) {
  return ({ query }: RecordedRequest) => {
    const after = Number(query['after'] ?? 0);
    const page = events.filter((e) => e.seq > after).slice(0, 2);
    const last = page.at(-1);
    const more = last !== undefined && events.some((e) => e.seq > last.seq);
    return { status: 200, body: { events: page, next: more ? String(last.seq) : null } };
  };
}

describe('verity audit tail', () => {
  it('pages to the end and prints the last --limit events', async () => {
    server = await startFakeServer({ 'GET /admin/v1/tenants/acme/audit': pagedAudit([1, 2, 3, 4, 5].map(event)) });
    const { code, out } = await run(['audit', 'tail', '-t', 'acme', '-n', '2', '--url', server.url]);
    expect(code).toBe(EXIT.OK);
    expect(out).toBe([
      '4 2025-01-01T00:00:04.000Z allow User::"alice" Action::"read" Doc::"d4" v2 by p1',
      '5 2025-01-01T00:00:05.000Z deny  User::"alice" Action::"read" Doc::"d5" v2',
      '',
    ].join('\n'));
    expect(server.requests.map((r) => r.query['after'])).toEqual([undefined, '2', '4']);
  });

  it('--follow polls for new events until the signal aborts; --json prints one event per line', async () => {
    const log = [event(1)];
    const controller = new AbortController();
    server = await startFakeServer({
      'GET /admin/v1/tenants/acme/audit': (request) => {
        const reply = pagedAudit(log)(request);
        if (log.length === 1) log.push(event(2));
        else if (request.query['after'] === '2') controller.abort();
        return reply;
      },
    });
    const { code, out } = await run(['audit', 'tail', '-t', 'acme', '-f', '--interval', '5', '--json', '--url', server.url], { signal: controller.signal });
    expect(code).toBe(EXIT.OK);
    expect(out.trimEnd().split('\n').map((line) => (JSON.parse(line) as AuditEvent).seq)).toEqual([1, 2]);
  });

  it('rejects a bad --limit with exit 2', async () => {
    expect((await run(['audit', 'tail', '-t', 'acme', '--limit', '0'])).code).toBe(EXIT.USAGE);
  });
});

describe('verity audit verify', () => {
  it('exits 0 when the chain is intact', async () => {
    server = await startFakeServer({ 'GET /admin/v1/tenants/acme/audit/verify': { status: 200, body: { ok: true, checked: 12, problems: [] } } });
    const { code, out } = await run(['audit', 'verify', '-t', 'acme', '--url', server.url]);
    expect(code).toBe(EXIT.OK);
    expect(out).toBe('ok: 12 events checked\n');
  });

  it('exits 1 and lists problems when it is not', async () => {
    const body = { ok: false, checked: 12, problems: [{ seq: 7, kind: 'hash-mismatch' }] };
    server = await startFakeServer({ 'GET /admin/v1/tenants/acme/audit/verify': { status: 200, body } });
    const human = await run(['audit', 'verify', '-t', 'acme', '--url', server.url]);
    expect(human.code).toBe(EXIT.CHECK_FAILED);
    expect(human.out).toBe('problem at seq 7: hash-mismatch\nFAILED: 1 problems in 12 events checked\n');
    const json = await run(['audit', 'verify', '-t', 'acme', '--json', '--url', server.url]);
    expect(json.code).toBe(EXIT.CHECK_FAILED);
    expect(JSON.parse(json.out)).toEqual(body);
  });
});

/** A checkpoint file as `audit checkpoint` writes it, signed by a fresh Ed25519 key made here. */
async function checkpointFile(stated: { tenant: string; seq: number; hash: string }, options: { otherKey?: boolean } = {}) {
  const signer = await generateKeyPair('Ed25519', { extractable: true });
  const shown = options.otherKey ? await generateKeyPair('Ed25519', { extractable: true }) : signer;
  const body = { ...stated, time: '2025-01-01T00:00:00.000Z' };
  const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(body))).setProtectedHeader({ alg: 'Ed25519', typ: 'verity-audit-checkpoint+jws' }).sign(signer.privateKey);
  return { ...body, jws, publicKey: await exportJWK(shown.publicKey) };
}

describe('verity audit checkpoint and verify --checkpoint', () => {
  let dir: string;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A server whose chain verifies by itself and holds `events`. */
  const chainServer = (events: AuditEvent[]) =>
    startFakeServer({
      'GET /admin/v1/tenants/acme/audit/verify': { status: 200, body: { ok: true, checked: events.length, problems: [] } },
      'GET /admin/v1/tenants/acme/audit': pagedAudit(events),
    });

  const verifyWith = async (file: unknown) => {
    dir = await mkdtemp(join(tmpdir(), 'verity-cp-'));
    await writeFile(join(dir, 'cp.json'), typeof file === 'string' ? file : JSON.stringify(file));
    return run(['audit', 'verify', '-t', 'acme', '--checkpoint', 'cp.json', '--url', server!.url], { cwd: dir });
  };

  it('writes the signed checkpoint the server makes, and never overwrites a file', async () => {
    const body = await checkpointFile({ tenant: 'acme', seq: 2, hash: '1' });
    server = await startFakeServer({ 'POST /admin/v1/tenants/acme/audit/checkpoints': { status: 201, body } });
    dir = await mkdtemp(join(tmpdir(), 'verity-cp-'));
    const first = await run(['audit', 'checkpoint', '-t', 'acme', '--out', 'cp.json', '--url', server.url], { cwd: dir });
    expect(first).toMatchObject({ code: EXIT.OK, out: 'checkpoint of acme at seq 2 written to cp.json\n' });
    expect(JSON.parse(await readFile(join(dir, 'cp.json'), 'utf8'))).toEqual(body);
    expect((await run(['audit', 'checkpoint', '-t', 'acme', '--out', 'cp.json', '--url', server.url], { cwd: dir })).code).toBe(EXIT.INVALID_INPUT);
    const printed = await run(['audit', 'checkpoint', '-t', 'acme', '--url', server.url]);
    expect(JSON.parse(printed.out)).toEqual(body);
  });

  it('passes while the chain holds the checkpointed hash at its seq', async () => {
    server = await chainServer([1, 2, 3].map(event));
    const result = await verifyWith(await checkpointFile({ tenant: 'acme', seq: 2, hash: '1' }));
    expect(result).toMatchObject({ code: EXIT.OK, out: 'ok: 3 events checked\n' });
    expect(server.requests.find((r) => r.path === '/admin/v1/tenants/acme/audit')?.query).toMatchObject({ after: '1', limit: '1' });
  });

  it('fails when the tail was deleted or rewritten, even though the server finds the chain whole', async () => {
    server = await chainServer([1].map(event));
    const deleted = await verifyWith(await checkpointFile({ tenant: 'acme', seq: 2, hash: '1' }));
    expect(deleted).toMatchObject({ code: EXIT.CHECK_FAILED, out: 'problem at seq 2: checkpoint-mismatch\nFAILED: 1 problems in 1 events checked\n' });
    await server.close();
    server = await chainServer([1, 2].map(event));
    const rewritten = await verifyWith(await checkpointFile({ tenant: 'acme', seq: 2, hash: 'the hash before the rewrite' }));
    expect(rewritten.code).toBe(EXIT.CHECK_FAILED);
  });

  it('fails when the checkpoint signature does not verify with the key in the file', async () => {
    server = await chainServer([1, 2].map(event));
    const result = await verifyWith(await checkpointFile({ tenant: 'acme', seq: 2, hash: '1' }, { otherKey: true }));
    expect(result).toMatchObject({ code: EXIT.CHECK_FAILED, out: 'problem: the checkpoint signature does not verify\nFAILED: 1 problems in 2 events checked\n' });
  });

  it('refuses a file that is not a checkpoint, or one of another tenant, with exit 3', async () => {
    server = await chainServer([1].map(event));
    expect(await verifyWith('not json')).toMatchObject({ code: EXIT.INVALID_INPUT, err: 'verity: cp.json is not JSON\n' });
    expect((await verifyWith({ jws: 'x' })).code).toBe(EXIT.INVALID_INPUT);
    const other = await verifyWith(await checkpointFile({ tenant: 'globex', seq: 1, hash: '1' }));
    expect(other).toMatchObject({ code: EXIT.INVALID_INPUT });
  });
});

describe('verity audit observe-report', () => {
  const group = { tier: 'gateway', action: 'Action::"write"', resource: 'route::"/todos"', denied: 3, principals: 4, samplePrincipals: ['User::"a"', 'User::"b"', 'User::"c"', 'User::"d"'], policies: [], firstSeen: '2026-12-02T10:00:00.000Z', lastSeen: '2026-12-02T10:05:00.000Z' };

  it('asks for the window and limit given, and prints one row per group (no permit applied when no policy decided)', async () => {
    server = await startFakeServer({ 'GET /admin/v1/tenants/acme/audit/observe-report': { status: 200, body: { since: '2026-12-01T10:00:00.000Z', groups: [group, { ...group, action: 'Action::"delete"', denied: 1, principals: 1, samplePrincipals: ['User::"a"'], policies: ['no-delete'] }] } } });
    const { code, out } = await run(['audit', 'observe-report', '--tenant', 'acme', '--since', '7d', '--limit', '5', '--url', server.url]);
    expect(code).toBe(EXIT.OK);
    expect(server.requests[0]?.query).toMatchObject({ since: '7d', limit: '5' });
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toBe('observed denies since 2026-12-01T10:00:00.000Z:');
    expect(lines[1]).toMatch(/^DENIED\s+TIER\s+ACTION\s+RESOURCE\s+PRINCIPALS\s+POLICIES\s+LAST$/);
    expect(lines[2]).toMatch(/^3\s+gateway\s+Action::"write"\s+route::"\/todos"\s+4 \(User::"a", User::"b", User::"c", …\)\s+\(no permit applied\)/);
    expect(lines[3]).toMatch(/^1\s+gateway\s+Action::"delete".*\s1 \(User::"a"\)\s+no-delete\s/);
  });

  it('defaults to the last 24 hours', async () => {
    server = await startFakeServer({ 'GET /admin/v1/tenants/acme/audit/observe-report': { status: 200, body: { since: 'x', groups: [] } } });
    const { code, out } = await run(['audit', 'observe-report', '--tenant', 'acme', '--url', server.url]);
    expect(code).toBe(EXIT.OK);
    expect(server.requests[0]?.query).toMatchObject({ since: '24h', limit: '100' });
    expect(out).toContain('nothing observe mode would have denied');
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { createEngineHost, type EngineHost } from './engine-host.js';

const hosts: EngineHost[] = [];
function host(options: { callTimeoutMs?: number; maxPreparations?: number; quarantine?: boolean } = {}): EngineHost {
  const created = createEngineHost({ name: 'test', callTimeoutMs: options.callTimeoutMs ?? 10_000, stackSizeMb: 32, maxPreparations: options.maxPreparations ?? 100, ...(options.quarantine === undefined ? {} : { quarantine: options.quarantine }) });
  hosts.push(created);
  return created;
}

afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.close()));
});

/** 800 nested parentheses: cedar-wasm's parser overflows its Wasm stack and traps. */
const TRAPPING = `permit(principal, action, resource) when { ${'('.repeat(800)}true${')'.repeat(800)} };`;
const parse = (text: string) => ['checkParsePolicySet', { staticPolicies: { p: text } }] as [string, unknown];
const OK = 'permit(principal, action, resource);';

describe('the engine host', () => {
  it('fails only the call that trapped, and answers the next one on a fresh instance', async () => {
    const engine = host();
    await expect(engine.run('evil', [parse(TRAPPING)])).rejects.toMatchObject({ code: 'ERR_DECISION_FAILED' });
    const [answer] = await engine.run('good', [parse(OK)]);
    expect(answer).toEqual({ type: 'success' });
  });

  it('runs the calls queued behind a trapping one on the next instance', async () => {
    const engine = host();
    const evil = engine.run('evil', [parse(TRAPPING)]);
    const behind = Array.from({ length: 4 }, () => engine.run('good', [parse(OK)]));
    await expect(evil).rejects.toMatchObject({ code: 'ERR_DECISION_FAILED' });
    for (const answer of await Promise.all(behind)) expect(answer).toEqual([{ type: 'success' }]);
  });

  it('stops a call past its time budget and keeps answering', async () => {
    // The production budget: a loaded machine must not make the fast call after it time out.
    const engine = host({ callTimeoutMs: 2_000 });
    // A worst case for Cedar's `like` matcher: far more than the budget of work.
    const slow: [string, unknown] = ['isAuthorized', {
      principal: { type: 'U', id: 'u' },
      action: { type: 'Action', id: 'a' },
      resource: { type: 'R', id: 'r' },
      context: { s: 'a'.repeat(300_000) },
      policies: { staticPolicies: { p: `permit(principal, action, resource) when { context.s like "*${'a'.repeat(20_000)}b" };` } },
      entities: [],
    }];
    await expect(engine.run('slow', [slow])).rejects.toMatchObject({ code: 'ERR_DECISION_TIMEOUT' });
    expect(await engine.run('fast', [parse(OK)])).toEqual([{ type: 'success' }]);
  });

  it('refuses a lane that failed the engine three times in a row, and only that lane', async () => {
    const engine = host();
    for (let i = 0; i < 3; i++) await expect(engine.run('evil', [parse(TRAPPING)])).rejects.toMatchObject({ code: 'ERR_DECISION_FAILED' });
    await expect(engine.run('evil', [parse(OK)])).rejects.toThrow(/failed the engine repeatedly/);
    expect(await engine.run('good', [parse(OK)])).toEqual([{ type: 'success' }]);
  });

  it('never quarantines a host whose lane all tenants share (parsing): each failure fails only its own call', async () => {
    const engine = host({ quarantine: false });
    for (let i = 0; i < 4; i++) await expect(engine.run('parse', [parse(TRAPPING)])).rejects.toMatchObject({ code: 'ERR_DECISION_FAILED' });
    expect(await engine.run('parse', [parse(OK)])).toEqual([{ type: 'success' }]);
  });

  it('takes lanes in turn: one lane\'s burst does not hold another lane back', async () => {
    const engine = host();
    const order: string[] = [];
    const busy = Array.from({ length: 20 }, (_, i) => engine.run('busy', [parse(OK)]).then(() => order.push(`busy${i}`)));
    const other = engine.run('other', [parse(OK)]).then(() => order.push('other'));
    await Promise.all([...busy, other]);
    // At most the jobs already sent ahead (two) and one turn of the busy lane come first.
    expect(order.indexOf('other')).toBeLessThanOrEqual(3);
  });

  it('prepares a set once per instance, and again on a fresh one', async () => {
    const engine = host();
    const preparation = {
      key: 'k@1',
      calls: [['preparsePolicySet', 'k@1', { staticPolicies: { p: OK } }]] as Array<[string, unknown, unknown]>,
      check: (results: unknown[]) => expect(results).toEqual([{ type: 'success' }]),
    };
    const decide: [string, unknown] = ['statefulIsAuthorized', { principal: { type: 'U', id: 'u' }, action: { type: 'Action', id: 'a' }, resource: { type: 'R', id: 'r' }, context: {}, preparsedPolicySetId: 'k@1', entities: [] }];
    const decisionOf = (results: unknown[]) => (results[0] as { response: { decision: string } }).response.decision;
    expect(decisionOf(await engine.run('t', [decide], preparation))).toBe('allow');
    await expect(engine.run('evil', [parse(TRAPPING)])).rejects.toMatchObject({ code: 'ERR_DECISION_FAILED' });
    // The new instance has never seen k@1: the preparation runs again before the call.
    expect(decisionOf(await engine.run('t', [decide], preparation))).toBe('allow');
  });

  it('passes integers beyond 2^53 to Cedar exactly', async () => {
    const engine = host();
    const [answer] = (await engine.run('t', [
      ['isAuthorized', {
        principal: { type: 'U', id: 'u' },
        action: { type: 'Action', id: 'a' },
        resource: { type: 'R', id: 'r' },
        context: { n: 9007199254740993n },
        policies: { staticPolicies: { p: 'permit(principal, action, resource) when { context.n == 9007199254740993 };' } },
        entities: [],
      }],
    ])) as Array<{ response: { decision: string } }>;
    expect(answer?.response.decision).toBe('allow');
  });
});

/**
 * `node --import @verity/cli/loader bench/sdk-cache-hit.ts [--json]`: what `enforcer.enforce`
 * costs on a decision-cache hit, in-process, next to the cache look-up alone and a bare SHA-256
 * of the token (every hit hashes its token: the key holds the token's SHA-256, never its text).
 * Issue 13's goal for a hit: 1 µs.
 *
 * The decision source answers the first question and is never asked again (the run checks
 * that); the token is a real ES256 JWT with an hour left, so the cache keeps the decision.
 */
import { SignJWT, generateKeyPair } from 'jose';
import { sha256Hex } from '@verity/core';
import { createDecisionCache, createEnforcer, type Decision, type DecisionSource } from '@verity/enforce';
import { measure, printReport, summarize, type Summary } from './stats.js';

const json = process.argv.includes('--json');
const { privateKey } = await generateKeyPair('ES256');
const token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'ES256' }).setIssuer('https://idp.example').setAudience('orders').setExpirationTime('1h').sign(privateKey);
let asked = 0;
const allow: Decision = { decision: 'allow', decisionId: 'd-1', policyVersion: 1, reasons: ['p1'] };
const source: DecisionSource = {
  async decide() {
    asked++;
    return allow;
  },
};
const cache = createDecisionCache({ ttlMs: 600_000 });
const enforcer = createEnforcer({ source, cache, tenant: 'acme', audience: 'orders', tier: 'bench' });
const input = { token, action: 'read', resource: { type: 'Doc', id: 'd1' }, context: { channel: 'web' } };
const key = { tenant: 'acme', token, audience: 'orders', action: 'read', resource: input.resource, context: { channel: 'web', caller: null }, caller: null };
if (!(await enforcer.enforce(input)).allowed) throw new Error('bench setup: not allowed');

const summaries: Summary[] = [];
for (const [label, fn] of [
  ['enforcer.enforce, cache hit', () => enforcer.enforce(input)],
  ['cache.get alone (key + LRU)', () => cache.get(key)],
  ['SHA-256 of the token alone (floor of a token-keyed hit)', () => sha256Hex(token)],
] as const) {
  const m = await measure(fn, { warmup: 20_000, n: 200_000, budgetMs: 5000 });
  summaries.push(summarize(label, m.samples, m.wallNs));
}
if (asked !== 1) throw new Error(`bench: the source was asked ${asked} times; every call after the first must be a hit`);
const [hit, get, hash] = summaries as [Summary, Summary, Summary];
printReport(summaries, { 'hit / SHA-256 floor (p50)': hit.p50Us / hash.p50Us, 'cache.get / hit (p50)': get.p50Us / hit.p50Us }, json);

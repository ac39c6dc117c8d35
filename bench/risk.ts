/**
 * `node --import @verity/cli/loader bench/risk.ts [--json]`: what the risk engine adds to a decision
 * (bench/RESULTS.md; issue 12's goal: under 10 % over the decision alone).
 *
 * The PDP in-process (`components.decisions.decide`, PGlite in memory, batched audit), three
 * tenants with the same policy and entities: `plain` without the risk engine; `risky` with
 * `settings.risk.enabled` (the seed's scoring, the authentication-age signal from the token's
 * `auth_time`, `context.risk` in the request, the factors in the audit record); `full` with every
 * signal measured: device trust (a registered, compliant device named by the token's claim), the
 * client IP located by the tenant's table and matched against a 10,000-range threat list, and the
 * per-subject signals (travel and behaviour, observed and flushed in the background). The request
 * carries a verified token principal authenticated five hours ago, so the aging factor is counted
 * and audited. The scenarios alternate (plain, risky, full; audited, then with audit mode `never`
 * as a diagnostic) in short blocks, 20 rounds, in the same run; read the ratios.
 */
import { randomBytes } from 'node:crypto';
import { startServer } from '@verity/server';
import type { DecisionRequest } from '@verity/core';
import { measure, printReport, summarize, type Summary } from './stats.js';

const json = process.argv.includes('--json');
const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : (sorted[(sorted.length - 1) >> 1] as number);
};
const log = (line: string) => process.stderr.write(`${line}\n`);
const POLICIES = `permit(principal is User, action == Action::"read", resource is Item) when { resource.owner == principal && (!(context has risk) || context.risk.level == "low") };`;

const adminToken = `vrt_${randomBytes(24).toString('base64url')}`;
const server = await startServer({ port: 0, dataDir: null, adminToken, print: () => {}, logLevel: 'warn', auditDurability: 'batched', maxAuditLagMs: 2 ** 31 - 1 });
const summaries: Summary[] = [];
/** Each block's p50 (ns), per scenario, in round order: for the paired ratios. */
const blockP50s: Record<string, number[]> = {};
try {
  const admin = (method: string, path: string, body: unknown) =>
    fetch(server.url + path, { method, headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => {
      if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    });
  const locations = [{ cidr: '198.51.100.0/24', lat: 52.52, lon: 13.405, country: 'DE', city: 'Berlin' }];
  const full = { risk: { enabled: true, devices: {}, locations, activity: {} } };
  for (const [tenant, settings] of [['plain', {}], ['risky', { risk: { enabled: true } }], ['full', full]] as const) {
    await admin('POST', '/admin/v1/tenants', { id: tenant, settings });
    await admin('POST', `/admin/v1/tenants/${tenant}/policies`, { files: { 'policies.cedar': POLICIES }, message: 'bench' });
    await admin('PUT', `/admin/v1/tenants/${tenant}/entities`, { mode: 'replace', entities: [{ uid: { type: 'Item', id: 'i1' }, attrs: { owner: { __entity: { type: 'User', id: 'alice' } } }, parents: [] }] });
  }
  await admin('PUT', '/admin/v1/tenants/full/devices/laptop-1', {});
  await admin('POST', '/admin/v1/tenants/full/devices/laptop-1/posture', { patch_level: new Date().toISOString().slice(0, 10), disk_encryption: true, screen_lock: true });
  // 10,000 /32 ranges in 10.0.0.0/8, none holding the client IP: every decision searches the list.
  const entries = Array.from({ length: 10_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`);
  await admin('PUT', '/admin/v1/tenants/full/threat-lists/feed', { entries });
  const { decisions } = server.components;
  const meta = { requestId: null, tier: 'bench' };
  const authTime = Math.floor(Date.now() / 1000) - 5 * 3600;
  const request: DecisionRequest = {
    kind: 'authzen',
    request: { subject: { type: 'User', id: 'alice' }, action: { name: 'read' }, resource: { type: 'Item', id: 'i1' }, context: {} },
    token: { principal: { uid: { type: 'User', id: 'alice' }, attrs: {}, parents: [] }, context: {}, authentication: { authTime, acr: null, amr: [] } },
  };
  const fullRequest: DecisionRequest = {
    kind: 'authzen',
    request: { subject: { type: 'User', id: 'alice' }, action: { name: 'read' }, resource: { type: 'Item', id: 'i1' }, context: { client_ip: '198.51.100.7' } },
    token: { principal: { uid: { type: 'User', id: 'alice' }, attrs: {}, parents: [] }, context: {}, authentication: { authTime, acr: null, amr: [] }, claims: { device_id: 'laptop-1' } },
  };
  const requestOf = (tenant: string) => (tenant === 'full' ? fullRequest : request);
  for (const tenant of ['plain', 'risky', 'full']) {
    const record = await decisions.decide({ tenant, request: requestOf(tenant), meta });
    if (record.decision !== 'allow') throw new Error(`bench setup: ${tenant} denied: ${JSON.stringify(record.errors)}`);
    if ((tenant !== 'plain') !== (record.risk !== undefined)) throw new Error(`bench setup: ${tenant} risk ${JSON.stringify(record.risk)}`);
  }
  const samples: Record<string, { samples: number[]; wallNs: number }> = {};
  // Audited as `verity serve` does, and (diagnostic) with audit mode `never`: on this 2-core box
  // the audit worker and PGlite's thread compete with the deciding thread for a core, so the
  // second pair shows the decision thread's own cost.
  // Short blocks, interleaved (20 rounds of 2,000 per scenario): this shared box drifts over
  // seconds, and each scenario must see the same drift as the others it is compared with.
  const ROUNDS = 20;
  for (let round = 1; round <= ROUNDS; round++) {
    if (round % 5 === 1) log(`decisions, rounds ${round}–${round + 4} of ${ROUNDS}…`);
    for (const audit of ['always', 'never'] as const) {
      for (const tenant of ['plain', 'risky', 'full']) {
        const name = `${tenant}/${audit}`;
        const asked = requestOf(tenant);
        const m = await measure(() => decisions.decide({ tenant, request: asked, meta, audit }), { warmup: round === 1 ? 2000 : 200, n: 2000, budgetMs: 2000 });
        const kept = samples[name] ?? { samples: [], wallNs: 0 };
        samples[name] = { samples: [...kept.samples, ...m.samples], wallNs: kept.wallNs + m.wallNs };
        (blockP50s[name] ??= []).push(median(m.samples));
      }
    }
  }
  const row = (name: string, label: string) => summaries.push(summarize(label, samples[name]?.samples ?? [], samples[name]?.wallNs ?? 0));
  row('plain/always', 'decision, risk engine off');
  row('risky/always', 'decision, risk engine on (auth age, audited factors)');
  row('full/always', 'decision, every signal (device, location, 10k threat list, travel and behaviour)');
  row('plain/never', 'audit off (diagnostic): risk engine off');
  row('risky/never', 'audit off (diagnostic): risk engine on');
  row('full/never', 'audit off (diagnostic): every signal');
} finally {
  await server.close();
}

const [off, on, all, offQuiet, onQuiet, allQuiet] = summaries as [Summary, Summary, Summary, Summary, Summary, Summary];
/** The median over rounds of one scenario's block p50 over another's in the same round: the drift of the box cancels. */
const paired = (a: string, b: string) => median((blockP50s[a] ?? []).map((ns, i) => ns / (blockP50s[b]?.[i] ?? Number.NaN)));
const ratios = {
  'risk on / off (paired: median of per-round p50 ratios)': paired('risky/always', 'plain/always'),
  'every signal / off (paired)': paired('full/always', 'plain/always'),
  'audit off: risk on / off (paired)': paired('risky/never', 'plain/never'),
  'audit off: every signal / off (paired)': paired('full/never', 'plain/never'),
  'risk on / off (p50)': on.p50Us / off.p50Us,
  'risk on / off (ops/s)': off.opsPerSec / on.opsPerSec,
  'every signal / off (p50)': all.p50Us / off.p50Us,
  'every signal / off (ops/s)': off.opsPerSec / all.opsPerSec,
  'audit off: risk on / off (p50)': onQuiet.p50Us / offQuiet.p50Us,
  'audit off: every signal / off (p50)': allQuiet.p50Us / offQuiet.p50Us,
};
printReport(summaries, ratios, json);

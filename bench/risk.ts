/**
 * `node --import tsx bench/risk.ts [--json]`: what the risk engine adds to a decision
 * (bench/RESULTS.md; issue 12's goal: under 10 % over the decision alone).
 *
 * The PDP in-process (`components.decisions.decide`, PGlite in memory, batched audit), two tenants
 * with the same policy and entities: `plain` without the risk engine, `risky` with
 * `settings.risk.enabled` (the seed's scoring, the authentication-age signal from the token's
 * `auth_time`, `context.risk` in the request, the factors in the audit record). The request carries
 * a verified token principal authenticated five hours ago, so the aging factor is counted and
 * audited. The scenarios alternate (plain, risky, plain, risky) in the same run; read the ratio.
 */
import { randomBytes } from 'node:crypto';
import { startServer } from '@verity/server';
import type { DecisionRequest } from '@verity/core';
import { measure, summarize, type Summary } from './stats.js';

const json = process.argv.includes('--json');
const log = (line: string) => process.stderr.write(`${line}\n`);
const POLICIES = `permit(principal is User, action == Action::"read", resource is Item) when { resource.owner == principal && (!(context has risk) || context.risk.level == "low") };`;

const adminToken = `vrt_${randomBytes(24).toString('base64url')}`;
const server = await startServer({ port: 0, dataDir: null, adminToken, print: () => {}, logLevel: 'warn', auditDurability: 'batched', maxAuditLagMs: 2 ** 31 - 1 });
const summaries: Summary[] = [];
try {
  const admin = (method: string, path: string, body: unknown) =>
    fetch(server.url + path, { method, headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => {
      if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    });
  for (const [tenant, settings] of [['plain', {}], ['risky', { risk: { enabled: true } }]] as const) {
    await admin('POST', '/admin/v1/tenants', { id: tenant, settings });
    await admin('POST', `/admin/v1/tenants/${tenant}/policies`, { files: { 'policies.cedar': POLICIES }, message: 'bench' });
    await admin('PUT', `/admin/v1/tenants/${tenant}/entities`, { mode: 'replace', entities: [{ uid: { type: 'Item', id: 'i1' }, attrs: { owner: { __entity: { type: 'User', id: 'alice' } } }, parents: [] }] });
  }
  const { decisions } = server.components;
  const meta = { requestId: null, tier: 'bench' };
  const authTime = Math.floor(Date.now() / 1000) - 5 * 3600;
  const request: DecisionRequest = {
    kind: 'authzen',
    request: { subject: { type: 'User', id: 'alice' }, action: { name: 'read' }, resource: { type: 'Item', id: 'i1' }, context: {} },
    token: { principal: { uid: { type: 'User', id: 'alice' }, attrs: {}, parents: [] }, context: {}, authentication: { authTime, acr: null, amr: [] } },
  };
  for (const tenant of ['plain', 'risky']) {
    const record = await decisions.decide({ tenant, request, meta });
    if (record.decision !== 'allow') throw new Error(`bench setup: ${tenant} denied: ${JSON.stringify(record.errors)}`);
    if ((tenant === 'risky') !== (record.risk !== undefined)) throw new Error(`bench setup: ${tenant} risk ${JSON.stringify(record.risk)}`);
  }
  const samples: Record<string, { samples: number[]; wallNs: number }> = {};
  for (const round of [1, 2]) {
    for (const tenant of ['plain', 'risky']) {
      log(`decisions, ${tenant} (round ${round})…`);
      const m = await measure(() => decisions.decide({ tenant, request, meta }), { warmup: 2000, n: 20_000, budgetMs: 5000 });
      const kept = samples[tenant] ?? { samples: [], wallNs: 0 };
      samples[tenant] = { samples: [...kept.samples, ...m.samples], wallNs: kept.wallNs + m.wallNs };
    }
  }
  summaries.push(summarize('decision, risk engine off', samples.plain?.samples ?? [], samples.plain?.wallNs ?? 0));
  summaries.push(summarize('decision, risk engine on (auth age, audited factors)', samples.risky?.samples ?? [], samples.risky?.wallNs ?? 0));
} finally {
  await server.close();
}

const [off, on] = summaries as [Summary, Summary];
const ratios = { 'risk on / off (p50)': on.p50Us / off.p50Us, 'risk on / off (ops/s)': off.opsPerSec / on.opsPerSec };
if (json) {
  process.stdout.write(`${JSON.stringify({ summaries, ratios }, null, 2)}\n`);
} else {
  const f = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
  process.stdout.write('| scenario | n | p50 µs | p99 µs | ops/s |\n|---|---:|---:|---:|---:|\n');
  for (const s of summaries) process.stdout.write(`| ${s.scenario} | ${s.n} | ${f(s.p50Us)} | ${f(s.p99Us)} | ${f(s.opsPerSec)} |\n`);
  process.stdout.write('\n');
  for (const [name, value] of Object.entries(ratios)) process.stdout.write(`${name}: ${value.toFixed(2)}×\n`);
}

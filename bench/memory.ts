/**
 * `node --import @verity/cli/loader bench/memory.ts [--tenants 10000] [--json]`: resident memory of one engine
 * holding many tenants' active versions (20 policies each, a schema-less RBAC-and-attributes
 * store whose ids differ per tenant), each prepared and asked one decision, as the PDP does on
 * first use. Prints RSS and heap before and after, per tenant, and the engine's stats.
 */
import { createCedarEngine } from '@verity/core/cedar';

const json = process.argv.includes('--json');
const arg = process.argv.indexOf('--tenants');
const tenants = arg >= 0 ? Number(process.argv[arg + 1]) : 10_000;
const log = (line: string) => process.stderr.write(`${line}\n`);

const policiesOf = (t: number): Record<string, string> =>
  Object.fromEntries(
    Array.from({ length: 20 }, (_, i) => [
      `p${i}`,
      i % 5 === 0
        ? `forbid(principal, action == Action::"delete", resource) when { resource has locked && resource.locked && principal.level < ${i + t % 7} };`
        : `permit(principal in Role::"r${i}-${t}", action in [Action::"read", Action::"write"], resource is Doc) when { resource.owner == principal || principal.level >= ${i} };`,
    ]),
  );

const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
const before = process.memoryUsage();
const engine = createCedarEngine();
const started = Date.now();
for (let t = 0; t < tenants; t++) {
  const set = await engine.prepare(`tenant${t}@1#h`, { validationMode: 'off', policies: policiesOf(t), templates: {}, links: [] });
  const answer = await engine.authorize(
    set,
    { principal: { type: 'User', id: 'u' }, action: { type: 'Action', id: 'read' }, resource: { type: 'Doc', id: 'd' }, context: {} },
    [
      { uid: { type: 'User', id: 'u' }, attrs: { level: 3 }, parents: [{ type: 'Role', id: `r1-${t}` }] },
      { uid: { type: 'Doc', id: 'd' }, attrs: { owner: { __entity: { type: 'User', id: 'u' } } }, parents: [] },
    ],
  );
  if (answer.decision !== 'allow') throw new Error(`tenant ${t}: ${JSON.stringify(answer)}`);
  if ((t + 1) % 1000 === 0) log(`${t + 1} tenants prepared (${Math.round((Date.now() - started) / 1000)} s), rss ${mb(process.memoryUsage().rss)} MiB`);
}
(globalThis as { gc?: () => void }).gc?.();
const after = process.memoryUsage();
const result = {
  tenants,
  policiesPerTenant: 20,
  seconds: (Date.now() - started) / 1000,
  rssMiB: { before: mb(before.rss), after: mb(after.rss) },
  heapUsedMiB: { before: mb(before.heapUsed), after: mb(after.heapUsed) },
  rssPerTenantKiB: Math.round((after.rss - before.rss) / tenants / 1024),
  engine: engine.stats(),
};
await engine.close();
if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
else {
  process.stdout.write(`${tenants} tenants × 20 policies, prepared and decided once each, in ${result.seconds.toFixed(0)} s\n`);
  process.stdout.write(`RSS ${result.rssMiB.before} → ${result.rssMiB.after} MiB (${result.rssPerTenantKiB} KiB per tenant); heap used ${result.heapUsedMiB.before} → ${result.heapUsedMiB.after} MiB\n`);
  process.stdout.write(`compiled sets ${result.engine.compiledSets}, compiled decisions ${result.engine.compiledDecisions}, cedar-wasm decisions ${result.engine.wasmDecisions}\n`);
}

/**
 * A local-mode PEP in its own process, for crash tests: `decide` decides as fast as it can with
 * a durable audit spool and prints each answered decision id on its own line (stdout is a pipe:
 * written synchronously, so every id the parent read was answered); `ship` only ships what the
 * spool holds, prints `shipped N` and exits. Settings come from the environment, never argv.
 * Run: node --import @verity/cli/loader e2e/helpers/local-pep-child.ts decide|ship
 */
import { createAuditShipper, createEnforcer, createLocalDecisionSource } from '@verity/enforce';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`local-pep-child: ${name} is not set`);
  return value;
};
const url = env('PEP_CHILD_URL');
const tenant = env('PEP_CHILD_TENANT');
const mode = process.argv[2];

const shipper = createAuditShipper({
  // The audit link can be its own (a proxy the test black-holes), so a kill leaves records only in the spool.
  url: process.env.PEP_CHILD_AUDIT_URL || url,
  tenant,
  credential: env('PEP_CHILD_AUDIT_CREDENTIAL'),
  spoolDir: env('PEP_CHILD_SPOOL'),
  batchSize: 1000,
  flushMs: mode === 'decide' ? 60_000 : 10,
  retryBackoff: { initialMs: 20, maxMs: 200 },
});
await shipper.ready;

if (mode === 'ship') {
  const { pending } = shipper.stats();
  await shipper.flush();
  process.stdout.write(`shipped ${pending}\n`);
  await shipper.close();
  process.exit(0);
}

const source = createLocalDecisionSource({ url, tenant, credential: env('PEP_CHILD_BUNDLE_CREDENTIAL'), bundleKeyThumbprints: env('PEP_CHILD_THUMBPRINTS').split(','), follow: false, shipper });
await source.ready;
const enforcer = createEnforcer({ source, tenant, anyAudience: true, tier: 'crash-pep' });
process.stdout.write('ready\n');
const WORKERS = 16;
let n = 0;
async function worker(): Promise<void> {
  for (;;) {
    const result = await enforcer.enforce({ subject: { type: 'User', id: `u${n++ % 50}` }, action: 'read', resource: { type: 'Doc', id: 'd1' } });
    if (result.decision?.decisionId) process.stdout.write(`${result.decision.decisionId}\n`);
    else process.stdout.write(`refused ${result.error?.code ?? result.status}\n`);
  }
}
await Promise.all(Array.from({ length: WORKERS }, worker));

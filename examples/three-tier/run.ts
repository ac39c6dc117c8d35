/**
 * The three-tier example, in one command: `npm run example:three-tier`.
 * Starts Verity (in memory), the tenants acme and globex, the orders database (PGlite with
 * row-level security), the orders service and a gateway (nginx when installed, else a Node
 * gateway; `--gateway node` chooses the Node one), runs the attack script and prints where each
 * attack was stopped and what every tier recorded.
 */
import { formatTable, runAttacks, verifyAudit } from './attacks.js';
import { startStack } from './stack.js';

const gatewayArgument = process.argv.indexOf('--gateway');
const prefer = gatewayArgument === -1 ? undefined : process.argv[gatewayArgument + 1];
if (prefer !== undefined && prefer !== 'nginx' && prefer !== 'node') {
  process.stderr.write('usage: run.ts [--gateway nginx|node]\n');
  process.exit(2);
}

const stack = await startStack(prefer === undefined ? {} : { gateway: prefer });
let failed = false;
try {
  process.stdout.write(`Verity PDP ${stack.pdp.url}; gateway: ${stack.gateway.kind} ${stack.gateway.url}; orders service ${stack.orders.url}\n\n`);
  const results = await runAttacks(stack);
  process.stdout.write(`${formatTable(results)}\n\n`);
  for (const result of results.filter((r) => !r.ok)) {
    failed = true;
    process.stdout.write(`UNEXPECTED: ${result.attack.id}: status ${result.outcome.status}, records ${JSON.stringify(result.records.map((r) => [r.tier, r.decision]))}\n`);
  }
  const audit = await verifyAudit(stack);
  const verdict = Object.entries(audit).map(([tenant, answer]) => `${tenant} ${answer.ok ? 'ok' : 'BROKEN'} (${answer.checked} records)`).join(', ');
  process.stdout.write(`audit chain verification: ${verdict}\n`);
  if (Object.values(audit).some((answer) => !answer.ok)) failed = true;
} finally {
  await stack.close();
}
process.exitCode = failed ? 1 : 0;

/**
 * Istio policies into a real Verity server: `verity istio import` turns the seed's
 * payment-service AuthorizationPolicy (and Istio's deny-method-get task) into a policy-store
 * folder, `verity policy push` activates it, and the server's decision pipeline decides
 * service-to-service requests over the import vocabulary (docs/workload-identity.md).
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runVerity } from './helpers/cli-run.js';
import { startTestServer } from './helpers/verity.js';

/** The Istio part of seed 003 (the Zero Trust article), as written there. */
const SEED = `apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: default
  namespace: production
spec:
  mtls:
    mode: STRICT
---
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata:
  name: payment-service-policy
  namespace: production
spec:
  selector:
    matchLabels:
      app: payment-service
  action: ALLOW
  rules:
    - from:
        - source:
            principals:
              - "cluster.local/ns/production/sa/order-service"
              - "cluster.local/ns/production/sa/refund-service"
      to:
        - operation:
            methods: ["POST"]
            paths: ["/api/v1/charge", "/api/v1/refund"]
    - from:
        - source:
            principals:
              - "cluster.local/ns/production/sa/audit-service"
      to:
        - operation:
            methods: ["GET"]
            paths: ["/api/v1/transactions/*"]
`;

const DENY_METHOD_GET = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-method-get
  namespace: foo
spec:
  selector:
    matchLabels:
      app: httpbin
  action: DENY
  rules:
  - to:
    - operation:
        methods: ["GET"]
`;

let server: Awaited<ReturnType<typeof startTestServer>>;
let dir: string;

const verity = (...argv: string[]) => runVerity(argv, { url: server.url, cwd: dir });

const TD = 'payments.example';
const spiffe = (namespace: string, account: string) => `spiffe://${TD}/ns/${namespace}/sa/${account}`;

/** `verity authorize` for a workload calling another; exit 0 allow, 1 deny. */
async function call(tenant: string, caller: string, method: string, path: string, callee: { namespace: string; labels: Record<string, string> }) {
  const context = { caller, path, callee };
  const answer = await verity('authorize', '--tenant', tenant, '--subject', `Workload::"${caller}"`, '--action', method, '--resource', `route::"${path}"`, '--context', JSON.stringify(context), '--json');
  return { code: answer.code, body: answer.out === '' ? {} : JSON.parse(answer.out) };
}

beforeAll(async () => {
  server = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), 'verity-istio-e2e-'));
  await writeFile(join(dir, 'payments.yaml'), SEED);
  await writeFile(join(dir, 'httpbin.yaml'), DENY_METHOD_GET);
});

afterAll(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('Istio policies decided by a real Verity server', () => {
  it("the seed's payment-service policy: imported, pushed with its schema, decided as Istio does", async () => {
    await mkdir(join(dir, 'payments'));
    const imported = await verity('istio', 'import', 'payments.yaml', '--trust-domain', TD, '--out', 'payments/istio.cedar', '--schema-out', 'payments/schema.cedarschema');
    expect(imported.code).toBe(0);
    expect(imported.out).toContain('mTLS production/default: strict');
    expect(imported.err).toBe('');
    expect(await readFile(join(dir, 'payments/istio.cedar'), 'utf8')).toContain(`"${spiffe('production', 'order-service')}"`);
    expect((await verity('tenant', 'create', 'payments')).code).toBe(0);
    expect((await verity('policy', 'push', '--tenant', 'payments', 'payments', '-m', 'from Istio')).code).toBe(0);

    const payment = { namespace: 'production', labels: { app: 'payment-service' } };
    const charge = await call('payments', spiffe('production', 'order-service'), 'POST', '/api/v1/charge', payment);
    expect(charge.code).toBe(0);
    expect(charge.body.context.reason_admin.determining_policies).toEqual(['istio:production/payment-service-policy/rule0']);
    expect((await call('payments', spiffe('production', 'refund-service'), 'POST', '/api/v1/refund', payment)).code).toBe(0);
    expect((await call('payments', spiffe('production', 'audit-service'), 'GET', '/api/v1/transactions/7', payment)).code).toBe(0);
    // Everything else is denied: another method, path, caller or namespace, another callee.
    expect((await call('payments', spiffe('production', 'order-service'), 'GET', '/api/v1/charge', payment)).code).toBe(1);
    expect((await call('payments', spiffe('production', 'audit-service'), 'POST', '/api/v1/charge', payment)).code).toBe(1);
    expect((await call('payments', spiffe('production', 'order-service'), 'POST', '/api/v1/charges', payment)).code).toBe(1);
    expect((await call('payments', spiffe('staging', 'order-service'), 'POST', '/api/v1/charge', payment)).code).toBe(1);
    expect((await call('payments', `spiffe://cluster.local/ns/production/sa/order-service`, 'POST', '/api/v1/charge', payment)).code).toBe(1);
    expect((await call('payments', spiffe('production', 'order-service'), 'POST', '/api/v1/charge', { namespace: 'production', labels: { app: 'ledger' } })).code).toBe(1);
  });

  it('with the schema, a context it does not declare is refused, never guessed at (exit 3)', async () => {
    const extraLabel = { namespace: 'production', labels: { app: 'payment-service', version: 'v2' } };
    const refused = await call('payments', spiffe('production', 'order-service'), 'POST', '/api/v1/charge', extraLabel);
    expect(refused.code).toBe(3);
    expect(refused.body.error.code).toBe('ERR_DECISION_INVALID_REQUEST');
  });

  it("deny-method-get with Istio's implicit allow: the forbid overrides, other requests pass", async () => {
    await mkdir(join(dir, 'httpbin'));
    const imported = await verity('istio', 'import', 'httpbin.yaml', '--trust-domain', TD, '--implicit-allow', '--out', 'httpbin/istio.cedar');
    expect(imported.code).toBe(0);
    expect((await verity('tenant', 'create', 'httpbin')).code).toBe(0);
    expect((await verity('policy', 'push', '--tenant', 'httpbin', 'httpbin', '-m', 'from Istio')).code).toBe(0);
    const httpbin = { namespace: 'foo', labels: { app: 'httpbin' } };
    const get = await call('httpbin', spiffe('foo', 'sleep'), 'GET', '/get', httpbin);
    expect(get.code).toBe(1);
    expect(get.body.context.reason_admin.determining_policies).toEqual(['istio:foo/deny-method-get/rule0']);
    expect((await call('httpbin', spiffe('foo', 'sleep'), 'POST', '/post', httpbin)).code).toBe(0);
    expect((await call('httpbin', spiffe('foo', 'sleep'), 'GET', '/get', { namespace: 'foo', labels: { app: 'sleep' } })).code).toBe(0);
  });
});

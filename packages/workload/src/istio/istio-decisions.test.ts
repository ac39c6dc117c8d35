/**
 * Istio's documented decisions, checked on the Cedar the importer makes. The cases are data
 * (testdata/decisions.yaml); each translation is built into a policy-store content by core's
 * `buildPolicyStoreContent` (parse, ids, limits, strict validation against the generated
 * schema), and each request is decided by cedar-wasm's own `isAuthorized`, the oracle.
 */
import { readFileSync } from 'node:fs';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { buildPolicyStoreContent, type PolicyStoreContent } from '@verity/core';
import { sharedCedarEngine } from '@verity/core/cedar';
import { importIstioPolicies } from './import-istio.js';

interface RequestRow {
  caller?: string;
  user?: string;
  callee: string;
  method: string;
  path: string;
  expect: 'allow' | 'deny';
  implicit?: boolean;
  verity?: 'allow' | 'deny';
  why?: string;
}

interface DecisionCase {
  name: string;
  source: string;
  users?: Record<string, Record<string, string>>;
  istio: string;
  requests: RequestRow[];
}

const CASES = parse(readFileSync(new URL('./testdata/decisions.yaml', import.meta.url), 'utf8')) as DecisionCase[];

function spiffeId(caller: string): string {
  const [namespace, account] = caller.split('/');
  return `spiffe://cluster.local/ns/${namespace}/sa/${account}`;
}

function calleeOf(text: string): { namespace: string; labels: Record<string, string> } {
  const [namespace = '', labels = ''] = text.split('/');
  return { namespace, labels: Object.fromEntries(labels.split(',').filter(Boolean).map((pair) => pair.split('=') as [string, string])) };
}

/** The Cedar request a PEP sends for the row (docs/workload-identity.md, "Istio interop"). */
function cedarRequest(row: RequestRow, users: DecisionCase['users']) {
  const principal = row.user !== undefined ? { type: 'User', id: row.user } : { type: 'Workload', id: spiffeId(row.caller ?? '') };
  const context: Record<string, unknown> = { path: row.path, callee: calleeOf(row.callee) };
  if (row.caller !== undefined) context['caller'] = spiffeId(row.caller);
  const entities = row.user === undefined ? [] : [{ uid: principal, attrs: users?.[row.user] ?? {}, parents: [] }];
  return { principal, action: { type: 'Action', id: row.method }, resource: { type: 'route', id: row.path }, context, entities };
}

function decide(content: PolicyStoreContent, row: RequestRow, users: DecisionCase['users'], withSchema: boolean): { decision: string; reasons: string[] } {
  const request = cedarRequest(row, users);
  if (withSchema) {
    // Under the schema, a PEP sends the label keys it declares (a context it does not declare is refused).
    const callee = request.context['callee'] as { labels: Record<string, string> };
    callee.labels = Object.fromEntries(Object.entries(callee.labels).filter(([key]) => content.schema?.includes(`"${key}"?: String`)));
  }
  const answer = cedar.isAuthorized({
    ...request,
    context: request.context as never,
    entities: request.entities as never,
    policies: { staticPolicies: content.policies },
    ...(withSchema && content.schema !== undefined ? { schema: content.schema, validateRequest: true } : {}),
  });
  if (answer.type !== 'success') throw new Error(`cedar-wasm refused the request: ${answer.errors.map((e) => e.message).join('; ')}`);
  expect(answer.response.diagnostics.errors).toEqual([]);
  return { decision: answer.response.decision, reasons: answer.response.diagnostics.reason };
}

async function translate(istio: string, implicitAllow: boolean): Promise<PolicyStoreContent> {
  const result = importIstioPolicies(istio, { implicitAllow });
  return buildPolicyStoreContent(sharedCedarEngine(), { files: { 'istio.cedar': result.policies }, ...(result.schema === undefined ? {} : { schema: result.schema }) });
}

let checks = 0;

describe('Istio decisions, cedar-wasm as the oracle', () => {
  for (const testCase of CASES) {
    describe(testCase.name, () => {
      it('with implicitAllow: every decision is the one Istio documents (unless Verity is stricter on purpose)', async () => {
        const content = await translate(testCase.istio, true);
        for (const row of testCase.requests) {
          const want = row.verity ?? row.expect;
          const got = decide(content, row, testCase.users, false);
          expect(`${row.method} ${row.path} ${JSON.stringify(row)} -> ${got.decision}`).toBe(`${row.method} ${row.path} ${JSON.stringify(row)} -> ${want}`);
          checks++;
          if (got.decision === 'allow' && !row.implicit) expect(got.reasons.every((id) => id.startsWith('istio:') && id !== 'istio:implicit-allow')).toBe(true);
          // Requests of service-to-service routes (principal Workload) also conform to the generated schema.
          if (row.user === undefined && content.schema !== undefined) {
            expect(decide(content, row, testCase.users, true).decision).toBe(want);
            checks++;
          }
        }
      });

      it('without implicitAllow: what only the implicit allow allowed is denied, the rest is unchanged', async () => {
        const content = await translate(testCase.istio, false);
        for (const row of testCase.requests) {
          const want = row.implicit ? 'deny' : (row.verity ?? row.expect);
          const got = decide(content, row, testCase.users, false);
          expect(`${row.method} ${row.path} ${JSON.stringify(row)} -> ${got.decision}`).toBe(`${row.method} ${row.path} ${JSON.stringify(row)} -> ${want}`);
          checks++;
        }
      });
    });
  }

  it('made the oracle checks it should', () => {
    const rows = CASES.flatMap((c) => c.requests);
    expect(rows.length).toBeGreaterThanOrEqual(60);
    expect(checks).toBeGreaterThanOrEqual(rows.length * 2);
  });
});

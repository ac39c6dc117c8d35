/**
 * attack8: `verity policy test` decides each case with the `context.risk` the case gives (as the
 * examples do). Cases whose risk records differ only in what is not the acr or location (score,
 * level, factors, amr, age) must each be decided on their own record, as cedar-wasm decides them,
 * with and without a schema that reads the acr as an extension value.
 */
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runCli } from '@verity/cli';
import { oracleIsAuthorized } from '../oracle/cedar-oracle.js';

const POLICIES = `@id("low") permit(principal, action == Action::"read", resource) when { context.risk.level == "low" && context.risk.score < 10 };
@id("otp") permit(principal, action == Action::"otp", resource) when { context.risk has authentication && context.risk.authentication.amr.contains("otp") };
@id("young") permit(principal, action == Action::"young", resource) when { context.risk has authentication && context.risk.authentication has age_sec && context.risk.authentication.age_sec < 100 };
@id("ip") permit(principal, action == Action::"ip", resource) when { context.risk has authentication && context.risk.authentication has acr && context.risk.authentication.acr.isIpv4() };
@id("bad") forbid(principal, action, resource) when { context.risk.factors.contains("known_malicious_ip") };`;
const SCHEMA = `entity User; entity Doc;
action read, otp, young, ip appliesTo { principal: User, resource: Doc, context: { risk: { score: Long, level: String, factors: Set<String>, authentication?: { acr?: ipaddr, amr: Set<String>, age_sec?: Long }, location?: { country?: String, city?: String, vpn?: Bool } } } };`;

const RISKS = [
  { score: 0, level: 'low', factors: [], authentication: { acr: '10.0.0.1', amr: ['otp'], age_sec: 5 }, location: { country: 'DE' } },
  { score: 60, level: 'high', factors: ['known_malicious_ip'], authentication: { acr: '10.0.0.1', amr: ['otp'], age_sec: 5 }, location: { country: 'DE' } },
  { score: 0, level: 'low', factors: [], authentication: { acr: '10.0.0.1', amr: ['pwd'], age_sec: 500 }, location: { country: 'DE' } },
  { score: 30, level: 'medium', factors: ['stale_authentication'], authentication: { acr: '10.0.0.1', amr: [], age_sec: 50000 }, location: { country: 'DE' } },
  { score: 0, level: 'low', factors: [], authentication: { acr: '10.0.0.1', amr: ['otp'], age_sec: 5 }, location: { country: 'DE' } },
];

async function runFolder(withSchema: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'a8-pt-'));
  writeFileSync(join(dir, 'p.cedar'), POLICIES);
  if (withSchema) writeFileSync(join(dir, 'schema.cedarschema'), SCHEMA);
  writeFileSync(join(dir, 'verity.json'), JSON.stringify({ ...(withSchema ? { validationMode: 'off' } : {}), settings: { risk: { enabled: true }, validateRequests: withSchema } }));
  mkdirSync(join(dir, 'tests'));
  const cases = [];
  for (const [ri, risk] of RISKS.entries()) for (const action of ['read', 'otp', 'young', 'ip']) {
    const answer = oracleIsAuthorized({ principal: { type: 'User', id: 'u' }, action: { type: 'Action', id: action }, resource: { type: 'Doc', id: 'd' }, context: { risk } as never, schema: withSchema ? SCHEMA : undefined, validateRequest: withSchema, policies: { staticPolicies: POLICIES }, entities: [] });
    if (!answer.ok) throw new Error(answer.message);
    cases.push({ name: `risk ${ri} ${action}`, request: { subject: { type: 'User', id: 'u' }, action: { name: action }, resource: { type: 'Doc', id: 'd' }, context: { risk } }, expect: answer.decision });
  }
  writeFileSync(join(dir, 'tests', 'cases.json'), JSON.stringify(cases));
  let out = '';
  const code = await runCli(['policy', 'test', dir], { stdout: { write: (s: string) => ((out += s), true) }, stderr: { write: (s: string) => ((out += s), true) }, env: {}, fetch: globalThis.fetch, cwd: process.cwd() } as never);
  return { code, out };
}

it.each([false, true])('policy test decides each case on its own risk record (schema %s)', async (withSchema) => {
  const { code, out } = await runFolder(withSchema);
  expect(code, out).toBe(0);
}, 60_000);

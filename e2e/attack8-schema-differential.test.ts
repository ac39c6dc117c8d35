/**
 * attack8 (coverage): one token (one interned risk entry) decided in tenants whose schemas declare
 * `context.risk` with odd types per action (ipaddr/decimal acr, Set<Long> factors, missing or
 * required attributes, risk not a record, optional risk), validateRequests on and off, compiled and
 * cedar-wasm sets, singles and batches, in both orders: always as cedar-wasm decides.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';
import { createInlineIdp, type InlineIdp } from './helpers/inline-idp.js';
import { oracleIsAuthorized } from '../oracle/cedar-oracle.js';

const AUD = 'api';
const ISSUER = 'https://idp.example.com';
const AUTH = (acr: string) => `{ acr?: ${acr}, amr: Set<String>, age_sec?: Long }`;
const LOC = '{ country?: String, city?: String, vpn?: Bool }';
const RISK = (o: { score?: string; level?: string; factors?: string; auth?: string; loc?: string; extra?: string }) =>
  `{ score: ${o.score ?? 'Long'}, level: ${o.level ?? 'String'}, factors: ${o.factors ?? 'Set<String>'}${o.auth === '' ? '' : `, authentication${o.auth?.startsWith('!') ? '' : '?'}: ${o.auth?.replace('!', '') ?? AUTH('String')}`}${o.loc === '' ? '' : `, location${o.loc?.startsWith('!') ? '' : '?'}: ${o.loc?.replace('!', '') ?? LOC}`}${o.extra ?? ''} }`;
const schema = (actions: Record<string, string>) => `entity User; entity Doc;\n` + Object.entries(actions).map(([a, r]) => `action ${a} appliesTo { principal: User, resource: Doc, context: { risk: ${r} } };`).join('\n');

const VARIANTS: Record<string, string> = {
  plain: RISK({}),
  ipacr: RISK({ auth: AUTH('ipaddr') }),
  decacr: RISK({ auth: AUTH('decimal') }),
  longfactors: RISK({ factors: 'Set<Long>' }),
  noauth: RISK({ auth: '' }),
  reqloc: RISK({ loc: `!${LOC}` }),
  reqauth: RISK({ auth: `!${AUTH('String')}` }),
  extra: RISK({ extra: ', extra?: String' }),
  extrareq: RISK({ extra: ', extra: String' }),
  scorestr: RISK({ score: 'String' }),
  levelset: RISK({ level: 'Set<String>' }),
  authnoamr: RISK({ auth: '{ acr?: String, age_sec?: Long }' }),
  agestr: RISK({ auth: '{ acr?: String, amr: Set<String>, age_sec?: String }' }),
  amrlong: RISK({ auth: '{ acr?: String, amr: Set<Long>, age_sec?: Long }' }),
  riskstr: 'String',
  riskopt: '',
};
const ACTIONS = Object.keys(VARIANTS);
const SCHEMA = schema(Object.fromEntries(ACTIONS.filter((a) => VARIANTS[a] !== '').map((a) => [a, VARIANTS[a]!]))) + `\naction riskopt appliesTo { principal: User, resource: Doc, context: { risk?: ${RISK({})} } };`;
const SCHEMA2 = schema(Object.fromEntries(ACTIONS.filter((a) => VARIANTS[a] !== '').map((a, i) => [a, VARIANTS[ACTIONS[(i + 1) % (ACTIONS.length - 1)]!]!]))) + `\naction riskopt appliesTo { principal: User, resource: Doc, context: { risk?: ${RISK({})} } };`;
const POLICIES = `@id("ip") permit(principal, action, resource) when { context.risk has authentication && context.risk.authentication has acr && context.risk.authentication.acr.isIpv4() };
@id("dec") permit(principal, action, resource) when { context.risk has authentication && context.risk.authentication has acr && context.risk.authentication.acr.lessThan(decimal("2.0")) };
@id("str") permit(principal, action, resource) when { context.risk has authentication && context.risk.authentication has acr && context.risk.authentication.acr == "1.5" };
@id("whole") permit(principal, action, resource) when { context.risk == {score: 0, level: "low", factors: []} };
@id("hasloc") permit(principal, action, resource) when { context.risk has location };
@id("f") permit(principal, action, resource) when { context.risk.factors.contains("unknown_device") };
@id("amr") permit(principal, action, resource) when { context.risk has authentication && context.risk.authentication.amr.contains("otp") };`;
let pdp: Awaited<ReturnType<typeof startTestServer>>;
let idp: InlineIdp;
const TENANTS: Array<[string, string, boolean, boolean?]> = [['d-on', SCHEMA, true], ['d-off', SCHEMA, false], ['d2-on', SCHEMA2, true], ['d2-off', SCHEMA2, false], ['d-none', '', false], ['w-on', SCHEMA, true, true], ['w-off', SCHEMA2, false, true]];
// A Long literal beyond 2^53 keeps a set on cedar-wasm (docs/engine.md): the `w-` tenants decide there.
const BIG = '@id("big") permit(principal, action == Action::"never", resource) when { context has n && context.n == 9007199254740993 };';

beforeAll(async () => {
  pdp = await startTestServer({ decisionAuth: 'open' });
  idp = await createInlineIdp({ issuer: ISSUER, audience: AUD });
  for (const [id, s, validate, wasm] of TENANTS) {
    expect((await pdp.admin.post('/admin/v1/tenants', { id, settings: { risk: { enabled: true }, validateRequests: validate } })).status).toBe(201);
    const pushed = await pdp.admin.post(`/admin/v1/tenants/${id}/policies`, { files: { 'p.cedar': wasm ? `${POLICIES}\n${BIG}` : POLICIES }, ...(s ? { schema: s, validationMode: 'off' } : {}) });
    expect(pushed.status, JSON.stringify(pushed.body)).toBe(201);
    expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${id}/identity-sources/corp`, idp.source())).status).toBe(200);
  }
}, 60_000);
afterAll(async () => { await pdp?.close(); });

function oracle(tenant: [string, string, boolean, boolean?], action: string, risk: unknown) {
  const answer = oracleIsAuthorized({
    principal: { type: 'User', id: 'alice' }, action: { type: 'Action', id: action }, resource: { type: 'Doc', id: 'd1' },
    context: { risk } as never, schema: tenant[1] || undefined, validateRequest: tenant[2], policies: { staticPolicies: POLICIES }, entities: [],
  });
  if (!answer.ok) return 'refused';
  return `${answer.decision}:${answer.reasons.join(',')}:${answer.errors.length}`;
}
const idOf = (ids: string[]) => ids.map((i) => ({ ip: 'policy0', dec: 'policy1', str: 'policy2', whole: 'policy3', hasloc: 'policy4', f: 'policy5', amr: 'policy6' } as Record<string, string>)[i] ?? i).sort().join(',');

// Two acr × amr combinations (an acr read as a decimal or as an ip, with and without amr), each
// deciding every tenant and action in both orders.
for (const [acr, amr] of [['1.5', ['otp']], ['10.0.0.1', undefined]] as Array<[string | undefined, string[] | undefined]>) {
  {
  it(`acr ${acr} amr ${amr}: every tenant and action, singles then batch, as Cedar decides`, async () => {
    const claims = { ...(acr === undefined ? {} : { acr }), ...(amr ? { amr } : {}) };
    const token = await idp.token(claims);
    const risk = { score: 0, level: 'low', factors: [], authentication: { ...(acr === undefined ? {} : { acr }), amr: amr ?? [] } };
    const got: string[] = []; const want: string[] = [];
    for (const order of [0, 1]) {
      const tenants = order ? [...TENANTS].reverse() : TENANTS;
      for (const t of tenants) {
        const actions = order ? [...ACTIONS].reverse() : ACTIONS;
        for (const action of actions) {
          const answer = await pdp.admin.post(`/tenants/${t[0]}/access/v1/evaluation`, { token, audience: AUD, action: { name: action }, resource: { type: 'Doc', id: 'd1' } });
          const g = answer.status === 400 ? 'refused' : answer.status !== 200 ? `status ${answer.status}` : `${answer.body.decision ? 'allow' : 'deny'}:${idOf(answer.body.context?.reason_admin?.determining_policies ?? [])}:${(answer.body.context?.reason_admin?.errors ?? []).length}`;
          got.push(`${t[0]} ${action} ${g}`);
          want.push(`${t[0]} ${action} ${oracle(t, action, risk)}`);
        }
        const batch = await pdp.admin.post(`/tenants/${t[0]}/access/v1/evaluations`, { token, audience: AUD, resource: { type: 'Doc', id: 'd1' }, evaluations: actions.map((a) => ({ action: { name: a } })) });
        if (batch.status === 200) {
          batch.body.evaluations.forEach((e: any, i: number) => {
            const err = e.context?.error;
            got.push(`${t[0]} batch ${actions[i]} ${err ? 'refused' : e.decision ? 'allow' : 'deny'}`);
            want.push(`${t[0]} batch ${actions[i]} ${oracle(t, actions[i]!, risk).split(':')[0]}`);
          });
        } else { got.push(`${t[0]} batch status ${batch.status} ${JSON.stringify(batch.body)}`); want.push(`${t[0]} batch status 200`); }
      }
    }
    expect(got).toEqual(want);
  }, 60_000);
  }
}

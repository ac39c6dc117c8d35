/**
 * The risk engine against Cedar's own answer (issue 12): for thousands of generated signal sets
 * (login age and strength, device states, a located client IP, a threat-list hit, travel and
 * behaviour), the request the risk pass builds (`assessRisk`, the one pass the PDP and local-mode
 * PEPs run) is decided by Verity's decision pipeline and by cedar-wasm's `isAuthorized` with the
 * same policies, entities and complete context. Every decision and its determining policies agree.
 */
import { afterAll, expect, it } from 'vitest';
import {
  assessRisk,
  buildPolicyStoreContent,
  createDecisionPipeline,
  DEFAULT_RISK_CONFIG,
  formatEntityUid,
  parseEvaluationRequest,
  type DecisionRequest,
  type Entity,
  type RiskSignals,
  type TenantSettings,
} from '@verity/core';
import { createCedarEngine } from '@verity/core/cedar';
import { oracleIsAuthorized, policiesInSourceOrder } from '../oracle/cedar-oracle.js';

const POLICIES = `@id("low-read") permit(principal, action == Action::"read", resource) when { context.risk.level == "low" };
@id("medium-read-mfa") permit(principal, action == Action::"read", resource) when { context.risk.level == "medium" && context.risk has authentication && context.risk.authentication has acr && context.risk.authentication.acr == "mfa" };
@id("score-write") permit(principal, action == Action::"write", resource) when { context.risk.score < 30 && context.risk has authentication && context.risk.authentication has age_sec && context.risk.authentication.age_sec <= 3600 };
@id("no-bad-ip") forbid(principal, action, resource) when { context.risk.factors.contains("known_malicious_ip") };
@id("no-travel") forbid(principal, action == Action::"write", resource) when { context.risk.factors.contains("impossible_travel") };
@id("vpn-needs-mfa") forbid(principal, action, resource) when { context.risk has location && context.risk.location has vpn && context.risk.location.vpn } unless { context.risk has authentication && context.risk.authentication.amr.contains("otp") };
@id("sanctioned") forbid(principal, action, resource) when { context.risk has location && context.risk.location has country && ["XX", "YY"].contains(context.risk.location.country) };
@id("critical") forbid(principal, action, resource) when { context.risk.level == "critical" };`;
const ENTITIES: Entity[] = [
  { uid: { type: 'User', id: 'alice' }, attrs: {}, parents: [] },
  { uid: { type: 'Doc', id: 'd1' }, attrs: {}, parents: [] },
];
const SETTINGS: TenantSettings = { risk: { enabled: true, ...DEFAULT_RISK_CONFIG } };
const NOW = Date.UTC(2026, 11, 1, 12);
const engine = createCedarEngine();
afterAll(() => engine.close());

/** A small seeded generator (mulberry32): the same cases every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

it('decides as cedar-wasm does on the context the risk pass builds (2,000 generated signal sets)', async () => {
  const content = await buildPolicyStoreContent(engine, { files: { 'p.cedar': POLICIES } });
  const prepared = await engine.prepare('risk-oracle', content);
  const pipeline = createDecisionPipeline({ engine, now: () => NOW });
  const view = { tenant: 'risk-oracle', version: 1, settings: SETTINGS, prepared };
  const byUid = new Map(ENTITIES.map((entity) => [formatEntityUid(entity.uid), entity]));
  const lookup = (uids: Entity['uid'][]) => uids.flatMap((uid) => byUid.get(formatEntityUid(uid)) ?? []);
  const idOf = new Map(policiesInSourceOrder(POLICIES).map((policy) => [policy.cedarId, policy.annotatedId ?? policy.cedarId]));
  const next = random(12);
  const pick = <T>(options: readonly T[]): T => options[Math.floor(next() * options.length)] as T;
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const authTime = pick([null, Math.floor(NOW / 1000) - Math.floor(next() * 20 * 3600)]);
    const signals: RiskSignals = {
      ...(authTime === null ? {} : { authAgeSec: Math.floor(NOW / 1000) - authTime }),
      ...pick([{}, { device: { state: 'unknown' as const } }, { device: { state: 'known' as const, compliant: true, issues: [] } }, { device: { state: 'known' as const, compliant: false, issues: ['disk_encryption'] } }]),
      ...pick([{}, { location: { lat: 52.5, lon: 13.4, country: 'DE' } }, { location: { lat: 1, lon: 1, country: 'XX' } }, { location: { lat: 50, lon: 8, vpn: true } }]),
      ...pick([{}, {}, { maliciousIp: { source: 'feed' } }]),
      ...pick([{}, { impossibleTravel: true }]),
      ...pick([{}, { anomalyScore: next() }]),
    };
    const token = { principal: { uid: { type: 'User', id: 'alice' }, attrs: {}, parents: [] }, context: {}, authentication: { authTime, acr: pick([null, 'pwd', 'mfa']), amr: pick([[], ['pwd'], ['pwd', 'otp']]) } };
    const asked: DecisionRequest = { kind: 'authzen', request: parseEvaluationRequest({ subject: { type: 'User', id: 'alice' }, action: { name: pick(['read', 'write']) }, resource: { type: 'Doc', id: 'd1' } }), token };
    const risk = assessRisk(SETTINGS, asked, signals, NOW);
    const request = asked;
    const record = await pipeline.decide(view, request, lookup, { requestId: null, tier: null }, { risk });
    // The Cedar context the pipeline decides on: the request's, with the risk pass's entry (which wins).
    const context = { ...((request.kind === 'authzen' ? request.request.context : undefined) ?? {}), risk: risk.context };
    const answer = oracleIsAuthorized({
      principal: { type: 'User', id: 'alice' },
      action: { type: 'Action', id: request.kind === 'authzen' ? request.request.action.name : '' },
      resource: { type: 'Doc', id: 'd1' },
      context: context as Parameters<typeof oracleIsAuthorized>[0]['context'],
      schema: undefined,
      validateRequest: false,
      policies: { staticPolicies: POLICIES },
      entities: ENTITIES,
    });
    if (!answer.ok) throw new Error(answer.message);
    const what = JSON.stringify({ signals, context });
    expect(record.decision, what).toBe(answer.decision);
    expect([...record.reasons].sort(), what).toEqual(answer.reasons.map((id) => idOf.get(id) ?? id).sort());
    expect(record.errors, what).toEqual([]);
    seen.add(`${record.decision} ${[...record.reasons].sort().join(',')}`);
  }
  // The generated cases reach every policy, allowing and forbidding.
  expect(new Set([...seen].flatMap((outcome) => outcome.split(' ')[1]?.split(',') ?? []))).toEqual(new Set(['low-read', 'medium-read-mfa', 'score-write', 'no-bad-ip', 'no-travel', 'vpn-needs-mfa', 'sanctioned', 'critical', '']));
}, 120_000);

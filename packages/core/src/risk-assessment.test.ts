import { DEFAULT_RISK_CONFIG } from './risk.js';
import { describe, expect, it } from 'vitest';
import { assessRisk, validUntilOf } from './risk-assessment.js';
import type { DecisionRequest, VerifiedPrincipal } from './decision-pipeline.js';

const NOW = Date.parse('2026-12-01T12:00:00.000Z');
const HOUR = 3600;

describe('validUntilOf: when a decision\'s risk changes by itself', () => {
  it.each([
    ['an hour-old login ages at 4 h + 1 s', HOUR, NOW + (3 * HOUR + 1) * 1000],
    ['exactly at the aging threshold: one second left', 4 * HOUR, NOW + 1000],
    ['a five-hour-old login goes stale at 12 h + 1 s', 5 * HOUR, NOW + (7 * HOUR + 1) * 1000],
    ['a stale login changes no more', 13 * HOUR, undefined],
  ])('%s', (_what, authAgeSec, expected) => {
    expect(validUntilOf({ authAgeSec }, DEFAULT_RISK_CONFIG, NOW)).toBe(expected);
  });

  it('takes the earliest of the authentication and a device patch ageing out', () => {
    const device = { state: 'known' as const, compliant: true, issues: [], validUntilMs: NOW + 60_000 };
    expect(validUntilOf({ authAgeSec: HOUR, device }, DEFAULT_RISK_CONFIG, NOW)).toBe(NOW + 60_000);
    expect(validUntilOf({ device }, DEFAULT_RISK_CONFIG, NOW)).toBe(NOW + 60_000);
    expect(validUntilOf({ device: { state: 'unknown' } }, DEFAULT_RISK_CONFIG, NOW)).toBeUndefined();
    expect(validUntilOf({}, DEFAULT_RISK_CONFIG, NOW)).toBeUndefined();
  });

  it('follows the tenant\'s thresholds', () => {
    const config = { auth_age: { aging_after_sec: 60, stale_after_sec: 120 } };
    expect(validUntilOf({ authAgeSec: 30 }, config, NOW)).toBe(NOW + 31_000);
    expect(validUntilOf({ authAgeSec: 90 }, config, NOW)).toBe(NOW + 31_000);
  });
});

describe('assessRisk: interned, frozen `context.risk` entries', () => {
  const enabled = { risk: { ...DEFAULT_RISK_CONFIG, enabled: true } };
  const tokenOf = (authTime: number | null, acr: string | null = null, amr: string[] = ['pwd']): VerifiedPrincipal => ({
    principal: { uid: { type: 'User', id: 'alice' }, attrs: {}, parents: [] },
    context: {},
    authentication: { authTime, acr, amr },
  });
  const asked = (token?: VerifiedPrincipal): DecisionRequest => ({
    kind: 'authzen',
    request: { subject: { type: 'User', id: 'alice' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' }, context: {} },
    ...(token === undefined ? {} : { token }),
  });
  const authTime = Math.floor(NOW / 1000) - 5 * HOUR;
  const frozenThrough = (value: unknown): boolean =>
    typeof value !== 'object' || value === null || (Object.isFrozen(value) && Object.values(value).every(frozenThrough));

  it('gives the same frozen object for the same token in the same second, and a new one when anything it holds changes', () => {
    const request = asked(tokenOf(authTime, 'pwd'));
    const signals = { authAgeSec: 5 * HOUR };
    const first = assessRisk(enabled, request, signals, NOW).context;
    expect(first).toEqual({ score: 10, level: 'low', factors: ['aging_authentication'], authentication: { acr: 'pwd', amr: ['pwd'], age_sec: 5 * HOUR } });
    expect(frozenThrough(first)).toBe(true);
    expect(() => {
      (first as Record<string, unknown>).level = 'low';
    }).toThrow(TypeError);
    expect(assessRisk(enabled, request, signals, NOW + 999).context).toBe(first);
    // A request of its own, the same verified token (the verifier's cache hands the same facts).
    expect(assessRisk(enabled, asked(request.kind === 'authzen' ? request.token : undefined), signals, NOW).context).toBe(first);

    const nextSecond = assessRisk(enabled, request, { authAgeSec: 5 * HOUR + 1 }, NOW + 1000).context;
    expect(nextSecond).not.toBe(first);
    expect(nextSecond?.authentication).toEqual({ acr: 'pwd', amr: ['pwd'], age_sec: 5 * HOUR + 1 });
    // A later assurance level replaces the acr, in the same second.
    const raised = assessRisk(enabled, request, signals, NOW, { acr: 'mfa', atMs: NOW - 1000 }).context;
    expect(raised?.authentication).toEqual({ acr: 'mfa', amr: ['pwd'], age_sec: 5 * HOUR });
    expect(assessRisk(enabled, request, signals, NOW).context?.authentication).toEqual({ acr: 'pwd', amr: ['pwd'], age_sec: 5 * HOUR });
    // Other factors, another location, another configuration: other entries.
    const device = assessRisk(enabled, request, { authAgeSec: 5 * HOUR, device: { state: 'unknown' } }, NOW).context;
    expect(device).toMatchObject({ score: 50, level: 'high', factors: ['aging_authentication', 'unknown_device'] });
    const located = assessRisk(enabled, request, { authAgeSec: 5 * HOUR, location: { lat: 1, lon: 2, country: 'DE' } }, NOW).context;
    expect(located).toMatchObject({ location: { country: 'DE' } });
    expect(assessRisk(enabled, request, { authAgeSec: 5 * HOUR, location: { lat: 1, lon: 2, country: 'FR' } }, NOW).context).toMatchObject({ location: { country: 'FR' } });
    const heavier = { risk: { ...enabled.risk, weights: { ...enabled.risk.weights, aging_authentication: 60 } } };
    expect(assessRisk(heavier, request, signals, NOW).context).toMatchObject({ score: 60, level: 'high', factors: ['aging_authentication'] });
    expect(assessRisk(enabled, request, signals, NOW).context).toMatchObject({ score: 10, level: 'low' });
  });

  it('shares the whole outcome of a token whose authentication is the only signal, within its second; weighs every request with other signals', () => {
    const request = asked(tokenOf(authTime, 'pwd'));
    const outcome = assessRisk(enabled, request, { authAgeSec: 5 * HOUR }, NOW);
    expect(outcome).toEqual({ context: expect.any(Object), assessment: { score: 10, level: 'low', factors: [{ name: 'aging_authentication', weight: 10, detail: `${5 * HOUR} s` }] }, validUntilMs: NOW + (7 * HOUR + 1) * 1000 });
    expect(assessRisk(enabled, request, { authAgeSec: 5 * HOUR }, NOW + 500)).toBe(outcome);
    expect(frozenThrough(outcome)).toBe(true);
    // Another second, another acr, another age than the token's: weighed again.
    expect(assessRisk(enabled, request, { authAgeSec: 5 * HOUR + 1 }, NOW + 1000)).not.toBe(outcome);
    expect(assessRisk(enabled, request, { authAgeSec: 5 * HOUR }, NOW, { acr: 'mfa', atMs: NOW - 1 }).context?.authentication).toMatchObject({ acr: 'mfa' });
    expect(assessRisk(enabled, request, { authAgeSec: 13 * HOUR }, NOW).assessment?.factors).toEqual([{ name: 'stale_authentication', weight: 30, detail: `${13 * HOUR} s` }]);
    const withDevice = { authAgeSec: 5 * HOUR, device: { state: 'unknown' as const } };
    const a = assessRisk(enabled, request, withDevice, NOW);
    const b = assessRisk(enabled, request, withDevice, NOW);
    expect(a).not.toBe(b);
    expect(a).toEqual(b);
    expect(a.context).toBe(b.context);
  });

  it('keeps a request without a token apart from one with, and says nothing with the engine off', () => {
    const none = assessRisk(enabled, asked(), {}, NOW).context;
    expect(none).toEqual({ score: 0, level: 'low', factors: [] });
    expect(frozenThrough(none)).toBe(true);
    expect(assessRisk(enabled, asked(), {}, NOW + 5000).context).toBe(none);
    expect(assessRisk(enabled, asked(tokenOf(null, null, [])), {}, NOW).context).toEqual({ score: 0, level: 'low', factors: [], authentication: { amr: [] } });
    expect(assessRisk({}, asked(tokenOf(authTime)), { authAgeSec: 5 * HOUR }, NOW)).toEqual({});
  });
});

import { describe, expect, it } from 'vitest';
import { DEFAULT_RISK_CONFIG, parseRiskConfig, scoreRisk, type RiskSignals } from './risk.js';

/**
 * The seed's ContinuousVerifier.evaluate_request (shared/seeds/003), transcribed line for line:
 * the score and the level it returns, for the same inputs.
 */
function seedVerifier(input: { authAgeSec: number; device: null | { compliant: boolean }; impossibleTravel: boolean; behaviorScore: number; maliciousIp: boolean }) {
  let score = 0;
  if (input.authAgeSec > 12 * 3600) score += 30;
  else if (input.authAgeSec > 4 * 3600) score += 10;
  if (input.device === null) score += 40;
  else if (!input.device.compliant) score += 25;
  if (input.impossibleTravel) score += 50;
  if (input.behaviorScore > 0.8) score += 35;
  else if (input.behaviorScore > 0.5) score += 15;
  if (input.maliciousIp) score += 60;
  const level = score >= 80 ? 'critical' : score >= 50 ? 'high' : score >= 25 ? 'medium' : 'low';
  return { score, level };
}

/** A small deterministic generator (mulberry32), so every run tries the same inputs. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('scoreRisk', () => {
  it('agrees with the seed\'s ContinuousVerifier on score and level for 5,000 inputs, boundaries included', () => {
    const next = random(42);
    const ages = [0, 4 * 3600, 4 * 3600 + 1, 12 * 3600, 12 * 3600 + 1, 86_400];
    const behaviours = [0, 0.5, 0.5000001, 0.8, 0.8000001, 1];
    for (let i = 0; i < 5000; i++) {
      const authAgeSec = i % 2 === 0 ? (ages[Math.floor(next() * ages.length)] as number) : Math.floor(next() * 2 * 86_400);
      const behaviorScore = i % 3 === 0 ? (behaviours[Math.floor(next() * behaviours.length)] as number) : next();
      const deviceRoll = next();
      const device = deviceRoll < 0.33 ? null : { compliant: deviceRoll < 0.66 };
      const impossibleTravel = next() < 0.3;
      const maliciousIp = next() < 0.2;
      const signals: RiskSignals = {
        authAgeSec,
        anomalyScore: behaviorScore,
        device: device === null ? { state: 'unknown' } : { state: 'known', compliant: device.compliant, issues: device.compliant ? [] : ['disk_encryption'] },
        impossibleTravel,
        ...(maliciousIp ? { maliciousIp: { source: 'test-list' } } : {}),
      };
      const ours = scoreRisk(signals);
      expect({ score: ours.score, level: ours.level }, JSON.stringify(signals)).toEqual(seedVerifier({ authAgeSec, device, impossibleTravel, behaviorScore, maliciousIp }));
    }
  });

  it('names each factor with its weight, in the seed\'s order; nothing measured is low', () => {
    const assessed = scoreRisk({ authAgeSec: 13 * 3600, device: { state: 'known', compliant: false, issues: ['screen_lock', 'patch_level'] }, impossibleTravel: true, anomalyScore: 0.9, maliciousIp: { source: 'abuse.ch' } });
    expect(assessed).toEqual({
      score: 200,
      level: 'critical',
      factors: [
        { name: 'stale_authentication', weight: 30, detail: '46800 s' },
        { name: 'device_noncompliant', weight: 25, detail: 'screen_lock, patch_level' },
        { name: 'impossible_travel', weight: 50 },
        { name: 'high_behavioral_anomaly', weight: 35, detail: '0.90' },
        { name: 'known_malicious_ip', weight: 60, detail: 'abuse.ch' },
      ],
    });
    expect(scoreRisk({})).toEqual({ score: 0, level: 'low', factors: [] });
  });

  it('uses a tenant\'s weights and thresholds', () => {
    const config = parseRiskConfig({ weights: { unknown_device: 5 }, thresholds: { medium: 5, high: 6, critical: 7 } });
    expect(config.weights.stale_authentication).toBe(30);
    expect(scoreRisk({ device: { state: 'unknown' } }, config)).toMatchObject({ score: 5, level: 'medium' });
    expect(parseRiskConfig({})).toEqual(DEFAULT_RISK_CONFIG);
  });

  it.each([
    ['not an object', 5],
    ['an unknown group', { weight: {} }],
    ['an unknown weight', { weights: { typo: 1 } }],
    ['a negative weight', { weights: { unknown_device: -1 } }],
    ['a fractional weight', { weights: { unknown_device: 1.5 } }],
    ['a weight too large', { weights: { unknown_device: 1001 } }],
    ['an anomaly bound outside [0, 1]', { anomaly: { high: 1.5 } }],
    ['moderate above high', { anomaly: { moderate: 0.9, high: 0.8 } }],
    ['aging after stale', { auth_age: { aging_after_sec: 50_000 } }],
    ['thresholds out of order', { thresholds: { medium: 60 } }],
    ['a string threshold', { thresholds: { medium: '25' } }],
    ['a prototype key', JSON.parse('{"weights": {"__proto__": {"x": 1}}}')],
  ])('refuses %s (ERR_TENANT_INVALID)', (_what, value) => {
    expect(() => parseRiskConfig(value)).toThrow(expect.objectContaining({ code: 'ERR_TENANT_INVALID' }));
  });
});

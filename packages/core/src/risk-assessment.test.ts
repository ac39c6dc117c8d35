import { DEFAULT_RISK_CONFIG } from './risk.js';
import { describe, expect, it } from 'vitest';
import { validUntilOf } from './risk-assessment.js';

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

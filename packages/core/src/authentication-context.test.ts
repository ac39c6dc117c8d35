import { describe, expect, it } from 'vitest';
import { authenticationContextOf } from './risk-assessment.js';

const NOW_MS = 1_800_000_000_000;
const NOW_SEC = NOW_MS / 1000;

describe('context.risk.authentication', () => {
  it('says the token\'s acr, its amr as a set and the seconds since auth_time', () => {
    expect(authenticationContextOf({ authTime: NOW_SEC - 90, acr: 'urn:acr:pwd', amr: ['pwd', 'otp', 'pwd'] }, NOW_MS)).toEqual({ acr: 'urn:acr:pwd', amr: ['otp', 'pwd'], age_sec: 90 });
  });

  it('leaves out what the token does not say, and never gives a negative age', () => {
    expect(authenticationContextOf({ authTime: null, acr: null, amr: [] }, NOW_MS)).toEqual({ amr: [] });
    expect(authenticationContextOf({ authTime: NOW_SEC + 30, acr: '', amr: [] }, NOW_MS)).toEqual({ amr: [], age_sec: 0 });
  });

  it('takes a later assurance level (SSF assurance-level-change) over the token\'s acr, never an older one', () => {
    const facts = { authTime: NOW_SEC - 600, acr: 'urn:acr:mfa', amr: ['otp'] };
    expect(authenticationContextOf(facts, NOW_MS, { acr: 'urn:acr:pwd', atMs: NOW_MS - 60_000 })).toMatchObject({ acr: 'urn:acr:pwd', age_sec: 600 });
    expect(authenticationContextOf(facts, NOW_MS, { acr: 'urn:acr:pwd', atMs: (NOW_SEC - 900) * 1000 })).toMatchObject({ acr: 'urn:acr:mfa' });
    expect(authenticationContextOf({ authTime: null, acr: null, amr: [] }, NOW_MS, { acr: 'urn:acr:pwd', atMs: 0 })).toEqual({ acr: 'urn:acr:pwd', amr: [] });
  });
});

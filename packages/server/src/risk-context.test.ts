/**
 * The network signals in withRisk (the client IP's sources, location into context, a matched
 * threat list's expiry bounding the decision), and the per-subject key of a decision request.
 */
import { describe, expect, it } from 'vitest';
import { clientIpOf, DEFAULT_RISK_CONFIG, formatIpAddress, isVerityError, type DecisionRequest, type TenantSettings } from '@verity/core';
import { activityKeyOf, withRisk, type RiskLookups } from './risk-context.js';

const SETTINGS: TenantSettings = {
  risk: { enabled: true, ...DEFAULT_RISK_CONFIG, locations: [{ cidr: '198.51.100.0/24', lat: 52.52, lon: 13.405, country: 'DE', city: 'Berlin' }] },
};
const NOW = Date.UTC(2026, 11, 1, 12);

const authzen = (context?: Record<string, unknown>, clientIp?: string): DecisionRequest => ({
  kind: 'authzen',
  request: { subject: { type: 'User', id: 'alice' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd-1' }, ...(context === undefined ? {} : { context }) },
  ...(clientIp === undefined ? {} : { clientIp }),
});

/** Sources that record the addresses they were asked about. */
function sources(threat: { source: string; expiresAtMs?: number } | null): RiskLookups & { asked: string[] } {
  const asked: string[] = [];
  return {
    nowMs: NOW,
    asked,
    locate: (address) => (asked.push(`locate ${formatIpAddress(address)}`), { lat: 1.29, lon: 103.85, country: 'SG', vpn: true }),
    threats: async (address) => (asked.push(`threats ${formatIpAddress(address)}`), threat),
  };
}

describe('clientIpOf', () => {
  it("takes a gateway's X-Real-IP over context.client_ip, and refuses a malformed one", () => {
    expect(clientIpOf(authzen({ client_ip: '198.51.100.7' }))).toEqual({ family: 4, value: 0xc6336407n });
    expect(clientIpOf(authzen({ client_ip: '198.51.100.7' }, '203.0.113.1'))).toEqual({ family: 4, value: 0xcb007101n });
    expect(clientIpOf(authzen({}))).toBeNull();
    expect(clientIpOf(authzen(undefined))).toBeNull();
    for (const bad of [authzen({ client_ip: '198.51.100.7:80' }), authzen({}, 'unknown'), authzen({ client_ip: null })]) {
      let code: string | undefined;
      try {
        clientIpOf(bad);
      } catch (error) {
        code = isVerityError(error) ? error.code : 'other';
      }
      expect(code).toBe('ERR_DECISION_INVALID_REQUEST');
    }
  });
});

describe('withRisk (network signals)', () => {
  it('locates by the tenant table first: context.risk.location without coordinates, and the threat list as a factor with its expiry', async () => {
    const at = sources({ source: 'feed-a', expiresAtMs: NOW + 60_000 });
    const { context, assessment, validUntilMs } = await withRisk(SETTINGS, authzen({ client_ip: '198.51.100.7' }), at);
    expect(context).toEqual({ score: 60, level: 'high', factors: ['known_malicious_ip'], location: { country: 'DE', city: 'Berlin' } });
    expect(assessment?.factors).toEqual([{ name: 'known_malicious_ip', weight: 60, detail: 'feed-a' }]);
    // The decision is good only until the matched list expires.
    expect(validUntilMs).toBe(NOW + 60_000);
    expect(at.asked).toEqual(['threats 198.51.100.7']);
  });

  it("falls back to the server's resolver, and adds nothing when no list matches", async () => {
    const at = sources(null);
    const result = await withRisk(SETTINGS, authzen({ client_ip: '2001:db8::1' }), at);
    expect(result.context).toEqual({ score: 0, level: 'low', factors: [], location: { country: 'SG', vpn: true } });
    expect(result).not.toHaveProperty('validUntilMs');
    expect(at.asked).toEqual(['locate 2001:db8::1', 'threats 2001:db8::1']);
  });

  it('measures nothing without a client IP, and nothing at all with the engine off', async () => {
    const at = sources({ source: 'feed-a' });
    expect((await withRisk(SETTINGS, authzen({}), at)).context).toEqual({ score: 0, level: 'low', factors: [] });
    const off = await withRisk({ risk: { ...SETTINGS.risk!, enabled: false } }, authzen({ client_ip: 'not an ip' }), at);
    expect(off).toEqual({});
    expect(at.asked).toEqual([]);
  });
});

const MAPPED = { typeMapping: { user: 'Corp::User', doc: 'Corp::Doc' }, actionType: 'Corp::Action' };

describe('activityKeyOf', () => {
  it("keys an AuthZEN request by the token's principal when there is one, else by the mapped subject", () => {
    const request = { subject: { type: 'user', id: 'claimed' }, action: { name: 'read' }, resource: { type: 'doc', id: 'd-1' } };
    expect(activityKeyOf({ kind: 'authzen', request }, MAPPED, null)).toEqual({ subject: 'Corp::User::"claimed"', action: 'Corp::Action::"read"', resourceType: 'Corp::Doc', location: null });
    const token = { principal: { uid: { type: 'User', id: 'alice' }, attrs: {}, parents: [] }, context: {} };
    const withToken = { kind: 'authzen', request, token } as DecisionRequest;
    expect(activityKeyOf(withToken, {}, { lat: 1, lon: 2 })).toEqual({ subject: 'User::"alice"', action: 'Action::"read"', resourceType: 'doc', location: { lat: 1, lon: 2 } });
  });

  it('keys a Cedar-native request by its own uids, unmapped', () => {
    const request = { principal: { type: 'User', id: 'bob' }, action: { type: 'Action', id: 'write' }, resource: { type: 'Doc', id: 'd-2' }, context: {} };
    expect(activityKeyOf({ kind: 'cedar', request }, MAPPED, null)).toEqual({ subject: 'User::"bob"', action: 'Action::"write"', resourceType: 'Doc', location: null });
  });
});

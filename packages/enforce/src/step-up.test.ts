import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createEnforcer } from './enforcer.js';
import { refusalBody, refusalHeaders } from './refusal.js';
import { createRemoteDecisionSource } from './remote-source.js';

const servers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((close) => close()));
});

/** A PDP stand-in on a loopback port that answers every evaluation with `answer`. */
async function pdp(answer: unknown): Promise<string> {
  const server = createServer((request, response: ServerResponse) => {
    request.resume();
    request.on('end', () => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(() => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const deny = (stepUp?: unknown) => ({ decision: false, context: { id: 'dec-1', reason_admin: { policy_version: 2, determining_policies: [], errors: [] }, ...(stepUp === undefined ? {} : { step_up: stepUp }) } });

async function enforceAgainst(answer: unknown) {
  const enforcer = createEnforcer({ source: createRemoteDecisionSource({ url: await pdp(answer), retries: 0 }), tenant: 'acme', audience: 'https://api.example', tier: 'orders' });
  return enforcer.enforce({ token: 'a.b.c', action: 'POST', resource: { type: 'route', id: '/payroll' } });
}

describe('step-up (RFC 9470 §3) in the SDK', () => {
  it('turns a deny with the PDP\'s step_up into 401 with the insufficient_user_authentication challenge', async () => {
    const result = await enforceAgainst(deny({ acr_values: 'urn:acr:mfa', max_age: 300 }));
    expect(result).toMatchObject({ allowed: false, status: 401, decision: { decision: 'deny', stepUp: { acrValues: 'urn:acr:mfa', maxAge: 300 } } });
    expect(refusalHeaders(result)).toEqual({ 'www-authenticate': 'Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:acr:mfa", max_age="300"' });
    expect(refusalBody(result)).toEqual({ code: 'ERR_ENFORCE_STEP_UP_REQUIRED', message: 'a stronger or more recent authentication is required' });
  });

  it('leaves max_age out when the PDP gives none', async () => {
    const result = await enforceAgainst(deny({ acr_values: 'urn:acr:mfa urn:acr:hw' }));
    expect(refusalHeaders(result)['www-authenticate']).toBe('Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:acr:mfa urn:acr:hw"');
  });

  it.each([
    ['an acr with a quote (would break the header)', { acr_values: 'urn:"x' }],
    ['an acr with a line break', { acr_values: 'urn:x\r\nset-cookie: a=b' }],
    ['an empty acr', { acr_values: '' }],
    ['a negative max_age', { acr_values: 'urn:acr:mfa', max_age: -1 }],
    ['a max_age that is text', { acr_values: 'urn:acr:mfa', max_age: '300' }],
    ['not an object', 'mfa'],
  ])('keeps a deny with an unusable step_up a plain 403: %s', async (_what, stepUp) => {
    const result = await enforceAgainst(deny(stepUp));
    expect(result).toMatchObject({ allowed: false, status: 403 });
    expect(result.decision?.stepUp).toBeUndefined();
    expect(refusalHeaders(result)).toEqual({});
  });

  it('ignores a step_up on an allow', async () => {
    const result = await enforceAgainst({ ...deny({ acr_values: 'urn:acr:mfa' }), decision: true });
    expect(result).toMatchObject({ allowed: true, status: 200 });
    expect(result.decision?.stepUp).toBeUndefined();
  });
});

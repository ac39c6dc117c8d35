/** Tenant settings of workload identity: `trust_domain` and `k8s_psat`, checked like every other setting; and the diff of two versions. */
import { describe, expect, it } from 'vitest';
import { diffSettings, parseSettingsChange, parseTenantSettings } from './tenant-settings.js';

const INVALID = { code: 'ERR_TENANT_INVALID' };

describe('workload settings', () => {
  it('takes a SPIFFE trust domain name and nothing else', () => {
    expect(parseTenantSettings({ trust_domain: 'prod.example.com' })).toEqual({ trust_domain: 'prod.example.com' });
    for (const trust_domain of ['', 'Prod.example', 'spiffe://prod', 'prod:443', 'a b', 'a'.repeat(256), 7]) {
      expect(() => parseTenantSettings({ trust_domain }), String(trust_domain)).toThrow(expect.objectContaining(INVALID));
    }
    expect(parseSettingsChange({ trust_domain: null })).toEqual({ set: {}, remove: ['trust_domain'] });
  });

  it('takes a Kubernetes issuer (https, or http on loopback) and audience, and refuses anything more', () => {
    const k8s_psat = { issuer: 'https://oidc.eks.eu-west-1.amazonaws.com/id/ABC', audience: 'verity' };
    expect(parseTenantSettings({ k8s_psat })).toEqual({ k8s_psat });
    expect(parseTenantSettings({ k8s_psat: { issuer: 'http://127.0.0.1:6443', audience: 'verity' } }).k8s_psat?.issuer).toBe('http://127.0.0.1:6443');
    for (const bad of [
      { issuer: 'http://kubernetes.default.svc', audience: 'verity' },
      { issuer: 'https://user:pw@k8s.example', audience: 'verity' },
      { issuer: 'https://k8s.example#x', audience: 'verity' },
      { issuer: 'https://k8s.example', audience: '' },
      { issuer: 'https://k8s.example' },
      { issuer: 'https://k8s.example', audience: 'verity', extra: true },
      'https://k8s.example',
    ]) {
      expect(() => parseTenantSettings({ k8s_psat: bad }), JSON.stringify(bad)).toThrow(expect.objectContaining(INVALID));
    }
  });
});

describe('risk settings: device trust', () => {
  it('completes settings.risk.devices with the defaults and refuses bad values', () => {
    expect(parseTenantSettings({ risk: { enabled: true, devices: {} } }).risk?.devices).toEqual({ claim: 'device_id', max_patch_age_days: 30 });
    expect(parseTenantSettings({ risk: { enabled: true, devices: { claim: 'did', max_patch_age_days: 7 } } }).risk?.devices).toEqual({ claim: 'did', max_patch_age_days: 7 });
    expect(parseTenantSettings({ risk: { enabled: true } }).risk?.devices).toBeUndefined();
    for (const devices of [null, [], 'on', { claim: '' }, { claim: 7 }, { claim: 'x'.repeat(257) }, { max_patch_age_days: 0 }, { max_patch_age_days: 1.5 }, { max_patch_age_days: 3651 }, { max_patch_age_days: '30' }, { extra: 1 }]) {
      expect(() => parseTenantSettings({ risk: { enabled: true, devices } }), JSON.stringify(devices)).toThrow(expect.objectContaining(INVALID));
    }
  });
});

describe('risk settings: per-subject activity', () => {
  it('completes settings.risk.activity with the defaults, keeps it absent when not given, and refuses bad values', () => {
    expect(parseTenantSettings({ risk: { enabled: true, activity: { retention_days: 7 } } }).risk?.activity).toMatchObject({ retention_days: 7, max_travel_kmh: 900, travel_buffer: 1.2 });
    expect(parseTenantSettings({ risk: { enabled: true } }).risk?.activity).toBeUndefined();
    for (const activity of [null, 'on', { retention_days: 0 }, { retention_days: 3651 }, { rate_window_sec: 0.5 }, { extra: 1 }]) {
      expect(() => parseTenantSettings({ risk: { enabled: true, activity } }), JSON.stringify(activity)).toThrow(expect.objectContaining(INVALID));
    }
  });
});

describe('diffSettings', () => {
  it('names each setting added, removed or changed, by key, with its whole value on each side', () => {
    const before = { actionType: 'A::Action', typeMapping: { user: 'User', doc: 'Doc' }, gatewayRoutes: ['/a'], validateRequests: false };
    const after = { typeMapping: { doc: 'Doc', user: 'App::User' }, gatewayRoutes: ['/a'], validateRequests: true, stsPrincipalType: 'Member' };
    expect(diffSettings(before, after)).toEqual([
      { key: 'actionType', kind: 'removed', before: 'A::Action' },
      { key: 'stsPrincipalType', kind: 'added', after: 'Member' },
      { key: 'typeMapping', kind: 'changed', before: { user: 'User', doc: 'Doc' }, after: { doc: 'Doc', user: 'App::User' } },
      { key: 'validateRequests', kind: 'changed', before: false, after: true },
    ]);
  });

  it('counts neither key order inside a value nor an unchanged value as a change', () => {
    expect(diffSettings({ typeMapping: { a: 'A', b: 'B' }, gatewayRoutes: ['/x', '/y'] }, { gatewayRoutes: ['/x', '/y'], typeMapping: { b: 'B', a: 'A' } })).toEqual([]);
    expect(diffSettings({ gatewayRoutes: ['/x', '/y'] }, { gatewayRoutes: ['/y', '/x'] })).toHaveLength(1);
    expect(diffSettings({}, {})).toEqual([]);
  });
});

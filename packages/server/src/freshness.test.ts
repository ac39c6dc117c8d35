import { describe, expect, it } from 'vitest';
import { createFreshness } from './freshness.js';

describe('freshness', () => {
  it('is fresh as of the later of the confirmed time and the view read time, within the bound', () => {
    let now = 10_000;
    const freshness = createFreshness({ maxStalenessMs: 1000, now: () => now });
    now += 1000;
    expect(() => freshness.assertFresh('acme', 0)).not.toThrow();
    now += 1;
    expect(() => freshness.assertFresh('acme', 0)).toThrowError(expect.objectContaining({ code: 'ERR_POLICY_STALE', status: 503 }));
    // A view read from the store recently is fresh on its own.
    expect(() => freshness.assertFresh('acme', now - 500)).not.toThrow();
    expect(freshness.report()).toEqual({ fresh: false, confirmedAt: new Date(10_000).toISOString(), ageMs: 1001 });
    // A heartbeat sent at `now - 100` came back; an older one arriving late moves nothing back.
    freshness.confirm(now - 100);
    freshness.confirm(now - 900);
    expect(freshness.confirmedAt()).toBe(now - 100);
    expect(freshness.report().fresh).toBe(true);
    expect(() => freshness.assertFresh('acme', 0)).not.toThrow();
  });

  it('is never stale without a bound (PGlite)', () => {
    let now = 0;
    const freshness = createFreshness({ maxStalenessMs: Infinity, now: () => now });
    now = 1e9;
    expect(() => freshness.assertFresh('acme', 0)).not.toThrow();
    expect(freshness.report()).toEqual({ fresh: true, confirmedAt: new Date(1e9).toISOString(), ageMs: 0 });
  });
});

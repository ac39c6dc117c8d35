import { describe, expect, it } from 'vitest';
import { canonicalPath } from './request-path.js';
import table from './request-path.cases.json' with { type: 'json' };

describe('canonicalPath: the shared table of path variants', () => {
  it.each(table.cases)('$uri', (variant) => {
    const { uri, path } = variant;
    const lower = 'lower' in variant ? variant.lower : path?.toLowerCase();
    for (const [caseSensitive, expected] of [[true, path], [false, lower]] as const) {
      const result = canonicalPath(uri, { caseSensitive });
      if (expected === null || expected === undefined) expect(result).toEqual({ ok: false, reason: 'reason' in variant ? variant.reason : '' });
      else expect(result).toMatchObject({ ok: true, path: expected, rawPath: uri.split('?')[0] });
    }
  });

  it('is case-sensitive by default, and refuses an over-long URI', () => {
    expect(canonicalPath('/A')).toMatchObject({ ok: true, path: '/A' });
    expect(canonicalPath(`/${'a'.repeat(8200)}`)).toEqual({ ok: false, reason: 'malformed' });
  });
});

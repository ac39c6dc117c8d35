import { describe, expect, it } from 'vitest';
import { VerityError } from './errors.js';

// The table against docs/errors.md, both ways, is checked in e2e/error-tables.test.ts.
describe('error codes', () => {
  it('serialize to {code, message} with the mapped status', () => {
    const error = new VerityError('ERR_TENANT_NOT_FOUND', 'no tenant "x"');
    expect(error.status).toBe(404);
    expect(JSON.parse(JSON.stringify(error))).toEqual({ code: 'ERR_TENANT_NOT_FOUND', message: 'no tenant "x"' });
  });
});

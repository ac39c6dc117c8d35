import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, VerityError } from './errors.js';

describe('error codes', () => {
  it('are all listed in docs/errors.md with their status', () => {
    const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    for (const [code, status] of Object.entries(ERROR_CODES)) expect(doc, code).toContain(`| \`${code}\` | ${status} |`);
  });
  it('serialize to {code, message} with the mapped status', () => {
    const error = new VerityError('ERR_TENANT_NOT_FOUND', 'no tenant "x"');
    expect(error.status).toBe(404);
    expect(JSON.parse(JSON.stringify(error))).toEqual({ code: 'ERR_TENANT_NOT_FOUND', message: 'no tenant "x"' });
  });
});

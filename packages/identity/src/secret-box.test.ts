import { describe, expect, it } from 'vitest';
import { createSecretBox, generateMasterKey, parseMasterKey } from './secret-box.js';

describe('secret box', () => {
  const box = createSecretBox(parseMasterKey(generateMasterKey()));

  it('opens what it sealed, for the same purpose only', () => {
    const sealed = box.seal('{"d":"private"}', 'signing-key:acme');
    expect(sealed).not.toContain('private');
    expect(box.open(sealed, 'signing-key:acme')).toBe('{"d":"private"}');
    expect(() => box.open(sealed, 'signing-key:globex')).toThrowError(expect.objectContaining({ code: 'ERR_INTERNAL' }));
  });

  it('refuses another key and any alteration', () => {
    const sealed = box.seal('secret', 'p');
    expect(() => createSecretBox(parseMasterKey(generateMasterKey())).open(sealed, 'p')).toThrow();
    const parts = sealed.split('.');
    parts[2] = Buffer.from('tampered').toString('base64url');
    expect(() => box.open(parts.join('.'), 'p')).toThrow();
    expect(() => box.open('garbage', 'p')).toThrow();
  });

  it('rejects master keys of the wrong size', () => {
    expect(() => parseMasterKey('c2hvcnQ')).toThrow(TypeError);
  });
});

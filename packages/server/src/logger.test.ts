import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, withoutPassword } from './logger.js';

describe('createLogger', () => {
  it('redacts authorization headers, tokens, secrets and credentials wherever a log call puts them', () => {
    const lines: string[] = [];
    const stream = new Writable({ write: (chunk: Buffer, _e, done) => void (lines.push(chunk.toString()), done()) });
    const log = createLogger({ level: 'info', stream });
    log.info({ req: { headers: { authorization: 'Bearer vrt_abc', 'x-verity-credential': 'Bearer vrt_def' } }, token: 'eyJ.a.b', body: { client_secret: 'vcs_x', subject_token: 'st', refresh_token: 'rt' }, adminToken: 'at', masterKey: 'mk', credential: 'cred' }, 'm');
    const output = lines.join('');
    for (const secret of ['vrt_abc', 'vrt_def', 'eyJ.a.b', 'vcs_x', '"st"', '"rt"', '"at"', '"mk"', '"cred"']) expect(output).not.toContain(secret);
    expect(output).toContain('[redacted]');
  });

  it('shows a database URL without its password', () => {
    expect(withoutPassword('postgres://verity:hunter2@db:5432/verity')).toBe('postgres://verity:***@db:5432/verity');
  });
});

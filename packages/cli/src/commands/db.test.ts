/**
 * `verity db install|rotate` without a database: the refusals that come before any connection,
 * and an unreachable database (the end-to-end runs against PostgreSQL are in
 * e2e/data-tier.pg.test.ts).
 */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../errors.js';
import { run } from '../test-helpers.js';

const env = { VERITY_ADMIN_TOKEN: 'vrt_admin_secret' };

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('verity db', () => {
  it('install needs a database URL, from the flag or VERITY_APP_DATABASE_URL, and a postgres:// one', async () => {
    const missing = await run(['db', 'install', '--tenant', 'acme'], { env });
    expect(missing.code).toBe(EXIT.USAGE);
    expect(missing.err).toMatch(/--database-url \(or VERITY_APP_DATABASE_URL\) is required/);
    const wrong = await run(['db', 'install', '--database-url', 'mysql://root@db/app'], { env });
    expect(wrong.code).toBe(EXIT.USAGE);
    expect(wrong.err).toMatch(/postgres:\/\//);
    // VERITY_DATABASE_URL is Verity's own store (`serve`): never taken for the application's database.
    const own = await run(['db', 'install'], { env: { ...env, VERITY_DATABASE_URL: 'postgres://verity@db/verity' } });
    expect(own.code).toBe(EXIT.USAGE);
  });

  it('rotate needs at least one tenant', async () => {
    const answer = await run(['db', 'rotate', '--database-url', 'postgres://owner@127.0.0.1/app'], { env });
    expect(answer.code).toBe(EXIT.USAGE);
    expect(answer.err).toMatch(/--tenant is required/);
  });

  it('an unreachable database: ERR_CLI_DATABASE, exit 4, the password never printed', async () => {
    const url = `postgres://owner:s3cret-pa55@127.0.0.1:${await closedPort()}/app`;
    for (const argv of [['db', 'install', '--tenant', 'acme'], ['db', 'rotate', '--tenant', 'acme']]) {
      const answer = await run([...argv, '--url', 'http://127.0.0.1:1'], { env: { ...env, VERITY_APP_DATABASE_URL: url } });
      expect(answer.code).toBe(EXIT.SERVER);
      expect(answer.err).toMatch(/ERR_CLI_DATABASE|cannot connect to application database/);
      expect(answer.out + answer.err).not.toContain('s3cret-pa55');
      expect(answer.out + answer.err).not.toContain('vrt_admin_secret');
    }
  });

  it('the PDP must be reached over https unless it is on this machine (receipt keys travel on that link)', async () => {
    const answer = await run(['db', 'install', '--database-url', 'postgres://owner@127.0.0.1/app', '--url', 'http://pdp.internal:8181'], { env });
    expect(answer.code).toBe(EXIT.USAGE);
    expect(answer.err).toMatch(/must be reached over https/);
    const rotate = await run(['db', 'rotate', '--database-url', 'postgres://owner@127.0.0.1/app', '--tenant', 'acme', '--url', 'http://10.0.0.5'], { env });
    expect(rotate.code).toBe(EXIT.USAGE);
  });

  it('both are listed in verity --help', async () => {
    const help = await run(['--help']);
    expect(help.out).toMatch(/db install/);
    expect(help.out).toMatch(/db rotate/);
  });
});

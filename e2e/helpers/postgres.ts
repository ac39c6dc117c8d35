/** A throwaway PostgreSQL database per test file, on the server named by VERITY_TEST_DATABASE_URL. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export function testDatabaseUrl(): string {
  const url = process.env.VERITY_TEST_DATABASE_URL;
  // The PostgreSQL suite must fail, never skip, when it has no database (CI sets this).
  if (!url) throw new Error('VERITY_TEST_DATABASE_URL is not set: the PostgreSQL suite needs a server (e.g. postgres://postgres@127.0.0.1:5432/test)');
  return url;
}

export async function createScratchDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const base = testDatabaseUrl();
  const name = `verity_e2e_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: base });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

/** The data-tier suite on PGlite (the app role entered with SET LOCAL ROLE), and PGlite specifics. */
import { PGlite } from '@electric-sql/pglite';
import { pgcrypto } from '@electric-sql/pglite/contrib/pgcrypto';
import { describe, expect, it } from 'vitest';
import { installDataTier, syncReceiptKeys } from './install.js';
import { makeKey, mintReceipt } from '../test/receipts.js';
import { withPGliteReceipt } from './with-receipt.js';
import { describeDataTier } from '../test/data-tier-suite.js';

describeDataTier('PGlite', async () => {
  const db = new PGlite({ extensions: { pgcrypto } });
  // PGlite runs as its superuser; the app role is entered with SET LOCAL ROLE.
  await db.query('CREATE ROLE verity_app NOLOGIN');
  expect(await installDataTier(db, { appRoles: ['verity_app'] })).toEqual({ fromVersion: 0, toVersion: 1 });
  return {
    owner: db,
    superuser: db,
    appRole: 'verity_app',
    asApp: (receipt, fn) =>
      receipt === null
        ? db.transaction(async (tx) => {
            await tx.query('SET LOCAL ROLE verity_app');
            return fn(tx);
          })
        : withPGliteReceipt(db, receipt, fn, { role: 'verity_app' }),
    async appSession() {
      await db.query('SET ROLE verity_app');
      // ROLLBACK first: a failed test may leave its transaction open (a warning when none is).
      return { client: db, close: async () => void (await db.query('ROLLBACK'), await db.query('RESET ROLE')) };
    },
    close: () => db.close(),
  };
});

describe('PGlite specifics', () => {
  it('withPGliteReceipt: a transaction kept past its callback runs nothing', async () => {
    const db = new PGlite({ extensions: { pgcrypto } });
    try {
      await installDataTier(db);
      const key = makeKey('tenant-k');
      await syncReceiptKeys(db, 'tenant-k', [key.material]);
      let kept: { query(sql: string): Promise<unknown> } | undefined;
      await withPGliteReceipt(db, await mintReceipt(key), async (tx) => {
        kept = tx;
      });
      await expect((kept as { query(sql: string): Promise<unknown> }).query("SELECT current_setting('verity.receipt', true)")).rejects.toThrow();
    } finally {
      await db.close();
    }
  });

  it('installDataTier says how to load pgcrypto when PGlite lacks it', async () => {
    const db = new PGlite();
    try {
      await expect(installDataTier(db)).rejects.toThrow(/pgcrypto.*extensions: \{ pgcrypto \}/);
      expect((await db.query("SELECT to_regnamespace('verity') AS s")).rows).toEqual([{ s: null }]);
    } finally {
      await db.close();
    }
  });
});

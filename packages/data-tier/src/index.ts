/**
 * @verity/data-tier: the SQL Verity installs in an application's own PostgreSQL database
 * (receipt verification in SECURITY DEFINER functions, `verity.current_tenant()` and friends,
 * forced row-level security by a tenant column), and the helpers that run a callback in a
 * transaction bound to a receipt, for `pg` and for PGlite. See docs/data-tier.md.
 */
export { holdDataTierLock, installDataTier, syncReceiptKeys, type InstallDataTierOptions, type InstallDataTierResult, type ReceiptKeyMaterial } from './install.js';
export { MIGRATIONS, type Migration } from './migrations.js';
export type { SqlClient } from './sql-client.js';
export { withPGliteReceipt, withReceipt, type ReceiptPool, type ReceiptPoolClient, type ReceiptTransactor, type WithReceiptOptions } from './with-receipt.js';

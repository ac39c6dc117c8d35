/** @verity/store: the storage port, its SQL repositories, and the PGlite and PostgreSQL drivers. */
export * from './types.js';
export * from './store.js';
export * from './migrations.js';
export * from './pglite-driver.js';
export * from './pglite-worker-driver.js';
export * from './postgres-driver.js';
export * from './shared-database.js';

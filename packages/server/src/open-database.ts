/** Chooses the storage driver from the configuration: PostgreSQL when a URL is given, else PGlite. */
import { createPgliteWorkerDatabase, createPostgresDatabase, type Database } from '@verity/store';
import type { ServerConfig } from './config.js';

/**
 * PostgreSQL when `databaseUrl` is set, else PGlite in `dataDir` (in memory when null). PGlite
 * runs on a worker thread: opening a folder or a long query never holds the server's event loop.
 */
export async function openDatabase(config: Pick<ServerConfig, 'databaseUrl' | 'dataDir' | 'storeTimeoutMs'>): Promise<Database> {
  if (config.databaseUrl) return createPostgresDatabase({ connectionString: config.databaseUrl, timeoutMs: config.storeTimeoutMs });
  return createPgliteWorkerDatabase(config.dataDir === null ? {} : { dataDir: config.dataDir });
}

/** Chooses the storage driver from the configuration: PostgreSQL when a URL is given, else PGlite. */
import { createPgliteDatabase, createPostgresDatabase, type Database } from '@verity/store';
import type { ServerConfig } from './config.js';

export async function openDatabase(config: Pick<ServerConfig, 'databaseUrl' | 'dataDir' | 'storeTimeoutMs'>): Promise<Database> {
  if (config.databaseUrl) return createPostgresDatabase({ connectionString: config.databaseUrl, timeoutMs: config.storeTimeoutMs });
  return createPgliteDatabase(config.dataDir === null ? {} : { dataDir: config.dataDir });
}

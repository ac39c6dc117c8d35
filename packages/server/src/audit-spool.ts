/**
 * The audit spool: decision records a stop could not write to the store by its deadline, kept
 * in a local folder (one append-only JSON-lines file per stop, fsync'd with its folder) and
 * appended to the audit at the next start, before the server answers decisions.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { DecisionRecord } from '@verity/core';
import type { Store } from '@verity/store';

const SUFFIX = '.jsonl';

/** fsync a folder, so a file created (or removed) in it survives a power loss. */
async function syncFolder(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Write `records` to a new spool file in `dir` (created with mode 0700 when missing) and make
 * it durable: the file and the folder are fsync'd before this resolves. Resolves with the file's
 * path. Rejects with the file system's error (disk full, permissions).
 */
export async function writeAuditSpool(dir: string, records: readonly DecisionRecord[]): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Sortable by time, unique across processes sharing the folder (PostgreSQL replicas in one cwd).
  const name = `audit-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}-${randomBytes(4).toString('hex')}${SUFFIX}`;
  const path = join(dir, name);
  const handle = await open(path, 'wx', 0o600);
  try {
    await handle.writeFile(records.map((record) => `${JSON.stringify(record)}\n`).join(''));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await syncFolder(dir);
  return path;
}

/** The records of one spool file; a torn last line (a crash while spooling) is left out. */
function parseSpool(text: string): { records: DecisionRecord[]; torn: number } {
  const records: DecisionRecord[] = [];
  let torn = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      records.push(JSON.parse(line) as DecisionRecord);
    } catch {
      torn++;
    }
  }
  return { records, torn };
}

/** What {@link recoverAuditSpool} appended. */
export interface SpoolRecovery {
  files: number;
  records: number;
  /** Lines that were not JSON (a file torn by a crash while it was written). */
  torn: number;
}

/**
 * Append every spool file in `dir` to the audit, oldest first, `batchSize` records a write, each
 * with `skipExisting` (a record the store committed after all, or a file appended before a crash,
 * is chained once); a file is removed only after its records committed. A missing folder is
 * nothing to recover. Rejects with the store's error (the file stays for the next start).
 */
export async function recoverAuditSpool(dir: string, store: Store, batchSize: number): Promise<SpoolRecovery> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => name.endsWith(SUFFIX)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { files: 0, records: 0, torn: 0 };
    throw error;
  }
  const outcome: SpoolRecovery = { files: 0, records: 0, torn: 0 };
  for (const name of names) {
    const path = join(dir, name);
    const { records, torn } = parseSpool(await readFile(path, 'utf8'));
    for (let i = 0; i < records.length; i += batchSize) await store.audit.append(records.slice(i, i + batchSize), { skipExisting: true });
    await unlink(path);
    await syncFolder(dir);
    outcome.files++;
    outcome.records += records.length;
    outcome.torn += torn;
  }
  return outcome;
}

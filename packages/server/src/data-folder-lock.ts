/**
 * One server per PGlite data folder. PGlite is an embedded database: two processes on one
 * folder each keep their own copy in memory and overwrite each other's files, losing tenants
 * and audit records. A lock file beside the folder (`<folder>.lock`) says who holds it.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, realpath, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { hostname } from 'node:os';
import { VerityError } from '@verity/core';

/** Who holds a data folder: written into the lock file as JSON. */
export interface LockHolder {
  pid: number;
  host: string;
  /** ISO 8601 time the holder started. */
  startedAt: string;
}

export interface DataFolderLock {
  readonly path: string;
  /** Remove the lock file, if it is still ours. */
  release(): Promise<void>;
}

function parseHolder(text: string): LockHolder | null {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    if (Number.isInteger(value.pid) && typeof value.host === 'string' && typeof value.startedAt === 'string') return value as LockHolder;
  } catch {
    // Not a lock we wrote: treated as held (below), so the operator decides.
  }
  return null;
}

/** Whether a process with this pid runs on this machine (signal 0 checks without signalling). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A holder that is certainly gone: on this host, and its pid is not running (or is our own
 * pid, left by an earlier life of this process — pid 1 in a restarted container).
 * A holder on another host (a shared file system) is never presumed dead.
 */
function isStale(holder: LockHolder | null): boolean {
  if (holder === null || holder.host !== hostname()) return false;
  return holder.pid === process.pid || !isRunning(holder.pid);
}

/**
 * Take the data folder's lock, or throw ERR_STORE_LOCKED naming the folder and its holder.
 * The lock file is written whole under a temporary name and then hard-linked into place, so
 * it is created atomically and never seen half-written. A stale lock (a crashed holder on
 * this host) is replaced.
 */
export async function lockDataFolder(dataDir: string): Promise<DataFolderLock> {
  // One lock per folder however it is named: a symlink to a folder in use (or a path through
  // one) takes the folder's own lock, and is refused with its holder named.
  const folder = await realpath(dataDir).catch(() => dataDir);
  const path = `${folder.replace(/\/+$/, '')}.lock`;
  const mine: LockHolder = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
  const text = `${JSON.stringify(mine)}\n`;
  const temporary = `${path}.${randomBytes(6).toString('hex')}`;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(temporary, text, { mode: 0o644, flag: 'wx' });
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await link(temporary, path);
        return {
          path,
          async release() {
            const current = await readFile(path, 'utf8').catch(() => null);
            if (current === text) await unlink(path).catch(() => {});
          },
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holderText = await readFile(path, 'utf8').catch(() => null);
      if (holderText === null) continue; // Released meanwhile: try again.
      const holder = parseHolder(holderText);
      if (attempt === 0 && isStale(holder)) {
        await unlink(path).catch(() => {});
        continue;
      }
      const who = holder ? `process ${holder.pid} on ${holder.host}, started ${holder.startedAt}` : 'an unknown holder';
      throw new VerityError(
        'ERR_STORE_LOCKED',
        `the data folder ${dataDir} is in use by ${who} (lock file ${path}); one server per data folder — use PostgreSQL (--database-url) for several. If that process is gone, remove the lock file`,
      );
    }
    throw new VerityError('ERR_STORE_LOCKED', `the data folder ${dataDir} could not be locked (lock file ${path})`);
  } finally {
    await unlink(temporary).catch(() => {});
  }
}

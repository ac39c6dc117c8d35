/**
 * The durable spool of a local-mode PEP's decision records: JSON-lines segment files in one
 * directory, appended with group commit (the records that arrive while one write and fsync run
 * share the next), shipped oldest first, and deleted only once the PDP acknowledged all of a
 * segment's records. Segments left by a crashed process are shipped after the restart.
 */
import { mkdir, open, readdir, readFile, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { DecisionRecord } from '@verity/core';
import { EnforceError } from './errors.js';

/** `segment-000000000042.jsonl`: the number orders segments; a new process continues after the highest. */
const SEGMENT = /^segment-(\d{12})\.jsonl$/;

/** What the shipper needs of where records wait: the memory queue and the spool alike. */
export interface RecordQueue {
  /** Records waiting, including a batch in flight. */
  pending(): number;
  /** Up to `max` of the oldest records not yet acknowledged (the next batch); empty when none. */
  next(max: number): Promise<DecisionRecord[]>;
  /** The oldest `count` records (the batch `next` gave) were acknowledged by the PDP. */
  acknowledge(count: number): Promise<void>;
}

export interface AuditSpool extends RecordQueue {
  /**
   * Append one record; resolves once it is on disk (written and fsync'd), rejects with
   * `ERR_ENFORCE_AUDIT_SPOOL` when it could not be made durable.
   */
  append(record: DecisionRecord): Promise<void>;
  /** Records the spool held when it was opened (left by an earlier process). */
  readonly recovered: number;
  /** Stop taking records; the active segment is closed and stays on disk for the next process. */
  close(): Promise<void>;
}

export interface OpenAuditSpoolOptions {
  dir: string;
  /** A segment is closed for shipping once it holds this many records (or the shipper asks). */
  segmentRecords: number;
  /** Told about lines of a segment that do not parse (skipped). */
  onCorrupt?: (segment: string, lines: number) => void;
}

interface Segment {
  seq: number;
  path: string;
  /** Records written (active segment) or read (sealed one, once loaded). */
  count: number;
}

function spoolFailure(message: string, cause: unknown): EnforceError {
  return new EnforceError('ERR_ENFORCE_AUDIT_SPOOL', message, { cause });
}

const segmentPath = (dir: string, seq: number) => join(dir, `segment-${String(seq).padStart(12, '0')}.jsonl`);

/** Lines of a segment as records; lines that do not parse are counted, not returned. */
function parseSegment(text: string): { records: DecisionRecord[]; corrupt: number } {
  const records: DecisionRecord[] = [];
  let corrupt = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      records.push(JSON.parse(line) as DecisionRecord);
    } catch {
      corrupt += 1;
    }
  }
  return { records, corrupt };
}

/**
 * Take the directory for this process: `spool.lock` holds the owner's pid. Two writers would ship
 * (and delete) each other's open segments, losing records; a lock whose process is gone (a crash)
 * is taken over.
 */
async function lockDirectory(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, 'spool.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return () => unlink(path).catch(() => undefined);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (Number.isSafeInteger(owner) && owner > 0 && isAlive(owner)) throw new Error(`the audit spool ${dir} is in use by process ${owner}`);
    await unlink(path).catch(() => undefined);
  }
  throw new Error(`the audit spool ${dir} could not be locked`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** fsync a directory, so a file created in it survives a power loss (not every platform allows it). */
async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL') throw error;
  } finally {
    await handle?.close();
  }
}

/** The segments an earlier process left, oldest first; empty ones (created, never written) are deleted. */
async function findSegments(dir: string, onCorrupt: OpenAuditSpoolOptions['onCorrupt']): Promise<{ sealed: Segment[]; recovered: number }> {
  const sealed: Segment[] = [];
  let recovered = 0;
  for (const name of (await readdir(dir)).sort()) {
    const match = SEGMENT.exec(name);
    if (!match) continue;
    const path = join(dir, name);
    const { records, corrupt } = parseSegment(await readFile(path, 'utf8'));
    if (records.length === 0) {
      // Created and never written (a crash right after), or only a torn line: nothing to ship.
      if (corrupt > 0) onCorrupt?.(path, corrupt);
      await unlink(path);
      continue;
    }
    sealed.push({ seq: Number(match[1]), path, count: records.length });
    recovered += records.length;
  }
  return { sealed, recovered };
}

/**
 * Open (creating it) the spool in `dir`. Segments already there are kept for shipping first.
 * One spool per directory: it is locked (`spool.lock`) until `close`; opening one that a living
 * process holds rejects.
 *
 * @example
 * ```ts
 * const spool = await openAuditSpool({ dir: '/var/lib/orders/verity-audit', segmentRecords: 1000 });
 * await spool.append(record); // durable now
 * ```
 */
export async function openAuditSpool(options: OpenAuditSpoolOptions): Promise<AuditSpool> {
  const { dir, segmentRecords } = options;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const unlock = await lockDirectory(dir);
  let found: { sealed: Segment[]; recovered: number };
  try {
    found = await findSegments(dir, options.onCorrupt);
  } catch (error) {
    await unlock();
    throw error;
  }
  const { sealed, recovered } = found;
  let nextSeq = (sealed.at(-1)?.seq ?? 0) + 1;
  let active: (Segment & { handle: FileHandle }) | null = null;
  /** The oldest sealed segment's records once read, and how many of them the PDP acknowledged. */
  let shipping: { segment: Segment; records: DecisionRecord[]; acknowledged: number } | null = null;
  let pendingCount = recovered;
  let closed = false;

  /** Operations run one at a time, in order: one line for writes, one for shipping (reads never hold up a commit). */
  function serialLine(): <T>(operation: () => Promise<T>) => Promise<T> {
    let tail: Promise<unknown> = Promise.resolve();
    return (operation) => {
      const result = tail.then(operation);
      tail = result.catch(() => undefined);
      return result;
    };
  }
  const writes = serialLine();
  const reads = serialLine();

  async function openActive(): Promise<Segment & { handle: FileHandle }> {
    if (active) return active;
    const seq = nextSeq++;
    const path = segmentPath(dir, seq);
    const handle = await open(path, 'a', 0o600);
    try {
      await syncDirectory(dir);
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
    active = { seq, path, count: 0, handle };
    return active;
  }

  /** Close the active segment for shipping (or delete it when empty). */
  async function sealActive(): Promise<void> {
    const segment = active;
    if (!segment) return;
    active = null;
    await segment.handle.close().catch(() => undefined);
    if (segment.count === 0) await unlink(segment.path).catch(() => undefined);
    else sealed.push({ seq: segment.seq, path: segment.path, count: segment.count });
  }

  // Group commit: appends wait here while a write runs, then share one write and one fsync.
  let waiting: Array<{ line: string; resolve: () => void; reject: (error: Error) => void }> = [];
  let commitQueued = false;

  async function commit(): Promise<void> {
    commitQueued = false;
    const batch = waiting;
    waiting = [];
    if (batch.length === 0) return;
    try {
      if (closed) throw new Error('the audit spool is closed');
      const segment = await openActive();
      await segment.handle.appendFile(batch.map((entry) => entry.line).join(''));
      await segment.handle.datasync();
      segment.count += batch.length;
      pendingCount += batch.length;
      for (const entry of batch) entry.resolve();
      if (segment.count >= segmentRecords) await sealActive();
    } catch (error) {
      // A torn write must not run into the next record: later records go to a new segment.
      // Whatever of this batch reached the file is shipped (at least once); none was answered.
      if (active) {
        const torn = active;
        active = null;
        await torn.handle.close().catch(() => undefined);
        sealed.push({ seq: torn.seq, path: torn.path, count: torn.count });
      }
      const failure = spoolFailure('the decision record could not be written to the audit spool', error);
      for (const entry of batch) entry.reject(failure);
    }
  }

  async function loadOldest(): Promise<boolean> {
    if (sealed.length === 0 && active !== null && active.count > 0) await writes(sealActive);
    const segment = sealed[0];
    if (!segment) return false;
    const { records, corrupt } = parseSegment(await readFile(segment.path, 'utf8'));
    if (corrupt > 0) options.onCorrupt?.(segment.path, corrupt);
    // The count may differ from the one kept while writing when a write was torn.
    pendingCount += records.length - segment.count;
    segment.count = records.length;
    shipping = { segment, records, acknowledged: 0 };
    return true;
  }

  async function finishSegment(): Promise<void> {
    const done = shipping as NonNullable<typeof shipping>;
    shipping = null;
    sealed.shift();
    // One that cannot be deleted is shipped again by the next process: the PDP skips its ids.
    await unlink(done.segment.path).catch(() => undefined);
  }

  return {
    recovered,
    pending: () => pendingCount,

    append(record) {
      const line = `${JSON.stringify(record)}\n`;
      return new Promise<void>((resolve, reject) => {
        waiting.push({ line, resolve, reject });
        if (!commitQueued) {
          commitQueued = true;
          void writes(commit);
        }
      });
    },

    next(max) {
      return reads(async () => {
        while (shipping === null || shipping.acknowledged >= shipping.records.length) {
          if (shipping !== null) await finishSegment();
          if (!(await loadOldest())) return [];
        }
        return shipping.records.slice(shipping.acknowledged, shipping.acknowledged + max);
      });
    },

    acknowledge(count) {
      return reads(async () => {
        if (shipping === null) return;
        shipping.acknowledged += count;
        pendingCount -= count;
        // Deleted only now: every record of the segment reached the PDP's audit.
        if (shipping.acknowledged >= shipping.records.length) await finishSegment();
      });
    },

    close() {
      return writes(async () => {
        if (closed) return;
        closed = true;
        await sealActive();
        await unlock();
      });
    },
  };
}

/**
 * One cedar-wasm instance on its own thread, behind a fair queue. The caller's event loop never
 * runs Cedar, so no policy or request can block it; a call that traps or outlives its time
 * budget fails alone, and the instance is replaced before the next call.
 */
import { Worker } from 'node:worker_threads';
import { VerityError } from '../errors.js';

/** One cedar-wasm function call: its name and arguments. */
export type CedarCall = [name: string, ...args: unknown[]];

/** Calls that must have run on an instance before a job's own calls (e.g. preparsing a set). */
export interface Preparation {
  key: string;
  calls: CedarCall[];
  /** Checks the preparation's results (throws when they failed). */
  check: (results: unknown[]) => void;
}

export interface EngineHostOptions {
  /** Names the thread in errors and logs. */
  name: string;
  /** Wall-clock budget of one job once it runs, in ms. */
  callTimeoutMs: number;
  /** Stack size of the thread, in MiB. */
  stackSizeMb: number;
  /** Replace the instance after this many preparations (cedar-wasm never frees a preparsed set). */
  maxPreparations: number;
  /**
   * Refuse a lane's jobs for a while after it failed the engine repeatedly (default true). Off
   * for a host whose jobs share one lane across tenants (parsing): there a strike would punish
   * every tenant for one tenant's input, and each failure already costs only its own caller.
   */
  quarantine?: boolean;
}

interface Job {
  lane: string;
  calls: CedarCall[];
  preparation: Preparation | undefined;
  resolve: (results: unknown[]) => void;
  reject: (error: unknown) => void;
}

interface Sent {
  id: number;
  job: Job;
  /** How many leading results belong to the preparation. */
  prepared: number;
}

/** Failures of one lane within the strike window before its jobs fail fast. */
const STRIKES = 3;
const STRIKE_WINDOW_MS = 5 * 60_000;
/** Jobs sent ahead to the thread, so it never waits for the main thread between two. */
const PIPELINE = 2;

export interface EngineHost {
  /** Run `calls` (after `preparation`, once per instance) in `lane`'s turn; resolves with their results. */
  run(lane: string, calls: CedarCall[], preparation?: Preparation): Promise<unknown[]>;
  /** The cedar-wasm version, once the thread has started. */
  version(): Promise<string>;
  close(): Promise<void>;
}

export function createEngineHost(options: EngineHostOptions): EngineHost {
  const lanes = new Map<string, Job[]>();
  const strikes = new Map<string, number[]>();
  let worker: Worker | null = null;
  let online: Promise<string> | null = null;
  /** The current thread has loaded cedar-wasm: the head job's time budget runs from then. */
  let isOnline = false;
  let prepared = new Set<string>();
  let inFlight: Sent[] = [];
  let nextId = 1;
  let headStartedAt = 0;
  let watchdog: NodeJS.Timeout | undefined;
  let closed = false;
  /** Why the current instance is being stopped, told to the job it was running. */
  let stopping: VerityError | null = null;

  function failure(message: string, cause?: unknown): VerityError {
    return new VerityError('ERR_DECISION_FAILED', message, cause === undefined ? undefined : { cause });
  }

  function strike(lane: string): void {
    const now = Date.now();
    const recent = (strikes.get(lane) ?? []).filter((at) => now - at < STRIKE_WINDOW_MS);
    recent.push(now);
    strikes.set(lane, recent);
  }

  function quarantined(lane: string): boolean {
    const now = Date.now();
    return (strikes.get(lane) ?? []).filter((at) => now - at < STRIKE_WINDOW_MS).length >= STRIKES;
  }

  function spawn(): Worker {
    const thread = new Worker(new URL('./cedar-worker.mjs', import.meta.url), { resourceLimits: { stackSizeMb: options.stackSizeMb }, name: `verity-cedar-${options.name}` });
    prepared = new Set();
    stopping = null;
    isOnline = false;
    online = new Promise<string>((resolve, reject) => {
      const onFirst = (message: { ready?: boolean; version?: string }) => {
        if (message.ready) {
          thread.off('message', onFirst);
          resolve(message.version ?? 'unknown');
        }
      };
      thread.on('message', onFirst);
      thread.once('exit', () => reject(failure(`the ${options.name} engine thread stopped before it started`)));
    });
    online.then(() => {
      if (worker === thread) {
        isOnline = true;
        headStartedAt = Date.now();
        armWatchdog();
      }
    }, () => undefined);
    thread.on('message', (message: { id?: number; results?: unknown[]; trap?: string }) => {
      if (message.id !== undefined) onReply(thread, message as { id: number; results?: unknown[]; trap?: string });
    });
    thread.on('error', () => {
      // An uncaught error ends the thread; 'exit' follows and reschedules its jobs.
    });
    thread.on('exit', () => onExit(thread));
    return thread;
  }

  function armWatchdog(): void {
    clearTimeout(watchdog);
    const head = inFlight[0];
    if (!head || worker === null || !isOnline) return;
    const id = head.id;
    const left = Math.max(0, headStartedAt + options.callTimeoutMs - Date.now());
    watchdog = setTimeout(() => {
      if (inFlight[0]?.id !== id || worker === null) return;
      stopping = new VerityError('ERR_DECISION_TIMEOUT', `the engine call ran longer than ${options.callTimeoutMs} ms and was stopped`);
      void worker.terminate();
    }, left);
    watchdog.unref();
  }

  function onReply(thread: Worker, message: { id: number; results?: unknown[]; trap?: string }): void {
    if (thread !== worker) return;
    const head = inFlight[0];
    if (!head || head.id !== message.id) return;
    inFlight.shift();
    headStartedAt = Date.now();
    if (message.trap !== undefined) {
      strike(head.job.lane);
      // The thread exits by itself and answers nothing more: what was sent behind this job
      // never ran, and goes to the next instance.
      stopping = failure('the engine instance was replaced');
      for (const sent of inFlight.reverse()) requeue(sent.job, true);
      inFlight = [];
      clearTimeout(watchdog);
      head.job.reject(failure('the engine could not evaluate this input (its instance was replaced)', new Error(message.trap)));
      return;
    }
    const results = message.results ?? [];
    try {
      if (head.prepared > 0 && head.job.preparation) {
        head.job.preparation.check(results.slice(0, head.prepared));
        prepared.add(head.job.preparation.key);
      }
      head.job.resolve(results.slice(head.prepared));
    } catch (error) {
      head.job.reject(error);
    }
    armWatchdog();
    pump();
  }

  function onExit(thread: Worker): void {
    if (thread !== worker) return;
    clearTimeout(watchdog);
    worker = null;
    online = null;
    const [head, ...rest] = inFlight;
    inFlight = [];
    if (head) {
      // The job the thread was running when it died or was stopped fails; it alone.
      strike(head.job.lane);
      head.job.reject(stopping ?? failure('the engine thread stopped unexpectedly'));
    }
    // Jobs sent behind it never ran: they go back to the front of their lanes.
    for (const sent of rest.reverse()) requeue(sent.job, true);
    stopping = null;
    pump();
  }

  function requeue(job: Job, front: boolean): void {
    let queue = lanes.get(job.lane);
    if (!queue) {
      queue = [];
      lanes.set(job.lane, queue);
    }
    if (front) queue.unshift(job);
    else queue.push(job);
  }

  /** The next job, taking lanes in turn so that no tenant's burst delays every other tenant. */
  function nextJob(): Job | undefined {
    for (const [lane, queue] of lanes) {
      lanes.delete(lane);
      const job = queue.shift();
      // Re-inserted at the end: Map order is the round-robin order.
      if (queue.length > 0) lanes.set(lane, queue);
      if (job) return job;
    }
    return undefined;
  }

  function pump(): void {
    if (closed) return;
    while (inFlight.length < PIPELINE) {
      if (worker !== null && stopping !== null) return;
      const job = nextJob();
      if (!job) break;
      if (options.quarantine !== false && quarantined(job.lane)) {
        job.reject(failure('this tenant\'s requests failed the engine repeatedly and are refused for a few minutes; push a new policy version or check the request'));
        continue;
      }
      if (worker === null) worker = spawn();
      if (prepared.size >= options.maxPreparations && inFlight.length === 0 && job.preparation && !prepared.has(job.preparation.key)) {
        // Too many sets preparsed in this instance: start a fresh one (it frees them all).
        requeue(job, true);
        stopping = failure('the engine instance was recycled');
        void worker.terminate();
        return;
      }
      const preparation = job.preparation && !prepared.has(job.preparation.key) && !inFlight.some((s) => s.job.preparation?.key === job.preparation?.key) ? job.preparation : undefined;
      const calls = preparation ? [...preparation.calls, ...job.calls] : job.calls;
      const sent: Sent = { id: nextId++, job, prepared: preparation ? preparation.calls.length : 0 };
      if (inFlight.length === 0) headStartedAt = Date.now();
      inFlight.push(sent);
      worker.ref();
      try {
        worker.postMessage({ id: sent.id, calls });
      } catch (error) {
        // Data a worker cannot receive (a DataCloneError): this job fails, nothing else. Thrown
        // from a timer or an exit handler (a restart re-sending it), it would end the process.
        inFlight.pop();
        job.reject(failure('the request holds a value the engine cannot receive', error));
        continue;
      }
      if (inFlight.length === 1) armWatchdog();
    }
    // Idle: let the process exit if nothing else keeps it alive.
    if (inFlight.length === 0 && worker !== null) worker.unref();
  }

  return {
    run(lane, calls, preparation) {
      if (closed) return Promise.reject(failure('the engine is closed'));
      return new Promise<unknown[]>((resolve, reject) => {
        requeue({ lane, calls, preparation, resolve, reject }, false);
        pump();
      });
    },

    async version() {
      if (closed) throw failure('the engine is closed');
      worker ??= spawn();
      const thread = worker;
      thread.ref();
      try {
        return (await online) ?? 'unknown';
      } finally {
        if (inFlight.length === 0) thread.unref();
      }
    },

    async close() {
      closed = true;
      clearTimeout(watchdog);
      const thread = worker;
      worker = null;
      for (const sent of inFlight) sent.job.reject(failure('the engine is closed'));
      inFlight = [];
      for (const queue of lanes.values()) for (const job of queue) job.reject(failure('the engine is closed'));
      lanes.clear();
      await thread?.terminate();
    },
  };
}

/**
 * A worker process of `verity serve --workers N` (cluster.ts forks it): a whole Verity server
 * on the shared port, over the primary's database (shared-database.ts) or its own PostgreSQL
 * pool. It starts and stops when the primary says so; it ignores SIGINT/SIGTERM (a terminal's
 * Ctrl-C reaches the whole process group: the primary orders the stop) and stops on its own only
 * when the primary is gone.
 */
import { connectSharedDatabase, type ProcessChannel } from '@verity/store';
import type { ClusterCommand, ClusterReport } from './cluster.js';
import type { StopOutcome } from './graceful-stop.js';
import { startServer, type RunningServer } from './start-server.js';

/** Send to the primary; resolves once the message is handed to the channel (before a disconnect may follow). */
const report = (message: ClusterReport): Promise<void> =>
  new Promise((sent) => {
    if (!process.connected || process.send === undefined) return sent();
    process.send(message, undefined, {}, () => sent());
  });

const channel: ProcessChannel = {
  send: (message) => void process.send?.(message),
  onMessage: (handler) => {
    process.on('message', handler);
    return () => void process.off('message', handler);
  },
};
const disconnected = new Promise<void>((resolve) => process.once('disconnect', () => resolve()));

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => {});

let running: Promise<RunningServer | null> | null = null;
/** Scrapes that reached this worker, waiting for the primary's sum of every worker's metrics. */
const scrapes = new Map<number, (text: string) => void>();
let nextScrape = 0;
/** Every worker's metrics added up by the primary (a scrape answers the whole server, not one worker). */
const clusterMetrics = (): Promise<string> =>
  new Promise<string>((resolve, reject) => {
    const id = ++nextScrape;
    scrapes.set(id, resolve);
    report({ verityCluster: 'metrics-request', id }).catch(reject);
    // The primary answers within its collection bound; past twice that it is gone or stuck.
    setTimeout(() => {
      if (scrapes.delete(id)) reject(new Error('the primary did not answer with the workers\' metrics'));
    }, 5000).unref();
  });
let stopping: Promise<StopOutcome> | null = null;
let defaultDeadlineMs = 10_000;

function stop(deadlineMs: number): Promise<StopOutcome> {
  stopping ??= (async () => {
    const server = await running?.catch(() => null);
    const outcome = server ? await server.close({ deadlineMs }) : { unwritten: 0, spooled: null };
    await report({ verityCluster: 'stopped', outcome });
    return outcome;
  })();
  return stopping;
}

process.on('message', (message: ClusterCommand) => {
  if (message?.verityCluster === 'start' && running === null) {
    const { logTo, ...options } = message.options;
    if (options.shutdownTimeoutMs !== undefined) defaultDeadlineMs = options.shutdownTimeoutMs;
    const database = message.kind === null ? undefined : connectSharedDatabase(channel, message.kind, disconnected);
    const toStderr = logTo === 'stderr';
    running = startServer({
      ...options,
      ...(database === undefined ? {} : { database }),
      ...(toStderr ? { logStream: process.stderr, print: (line: string) => void process.stderr.write(`${line}\n`) } : {}),
    }).then(
      (server) => {
        server.components.metrics.renderBy(clusterMetrics);
        void report({ verityCluster: 'ready', url: server.url });
        return server;
      },
      async (error: unknown) => {
        await report({ verityCluster: 'failed', message: error instanceof Error ? error.message : String(error) });
        process.exitCode = 1;
        process.disconnect?.();
        return null;
      },
    );
  } else if (message?.verityCluster === 'metrics-collect') {
    void running?.then(async (server) => {
      if (server) await report({ verityCluster: 'metrics', id: message.id, snapshot: await server.components.metrics.snapshot() });
    });
  } else if (message?.verityCluster === 'metrics-answer') {
    const resolve = scrapes.get(message.id);
    scrapes.delete(message.id);
    resolve?.(message.text);
  } else if (message?.verityCluster === 'stop') {
    void stop(message.deadlineMs).then((outcome) => {
      process.exitCode = outcome.unwritten === 0 ? 0 : 1;
      process.disconnect?.();
    });
  }
});

void report({ verityCluster: 'waiting' });

// The primary is gone (killed): nothing relays the store any more; stop and leave.
void disconnected.then(async () => {
  if (stopping !== null) return;
  const outcome = await stop(defaultDeadlineMs);
  process.exit(outcome.unwritten === 0 ? 0 : 1);
});

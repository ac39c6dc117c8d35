/**
 * attack12: a collector that never answers holds the stop past --shutdown-timeout. docs/operations.md
 * ("Stopping"): on SIGTERM `verity serve` finishes, writes the audit and exits "all within
 * --shutdown-timeout", and the grace period is to be set to that + 5 s. The span flush runs after
 * the deadline-bounded stop, unbounded by it: with an OTLP endpoint that accepts and never answers,
 * the process exits only when the exporter's own timeout (10 s by default) gives up.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, startServeProcess, type ServeProcess } from './helpers/serve-process.js';

let collector: Server;
let collectorUrl: string;
const processes: ServeProcess[] = [];

beforeAll(async () => {
  collector = createServer(() => {
    // Accepts the export and never answers.
  });
  await new Promise<void>((listening) => collector.listen(0, '127.0.0.1', listening));
  collectorUrl = `http://127.0.0.1:${(collector.address() as { port: number }).port}`;
});

afterAll(async () => {
  await killAll(processes);
  collector.closeAllConnections();
  await new Promise((closed) => collector?.close(closed));
});

const REQUEST = { subject: { type: 'user', id: 'CiRmZDM2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs' }, action: { name: 'can_read_todos' }, resource: { type: 'todo', id: 'todo-1' } };

describe('tracing and the stop', () => {
  it('exits within --shutdown-timeout (+ slack) although the collector hangs', async () => {
    const server = await startServeProcess(['--shutdown-timeout', '500'], { OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '50' });
    processes.push(server);
    for (let i = 0; i < 5; i++) expect((await fetch(`${server.url}/access/v1/evaluation`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(REQUEST) })).status).toBe(200);
    await new Promise((wait) => setTimeout(wait, 300)); // an export is now in flight, unanswered
    const started = performance.now();
    server.child.kill('SIGTERM');
    const exit = await server.exited;
    const tookMs = performance.now() - started;
    expect(exit.code).toBe(0);
    // 500 ms deadline; 3 s of slack for the process's own exit.
    expect(tookMs).toBeLessThan(3_500);
  }, 40_000);
});

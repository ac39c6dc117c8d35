/**
 * Load for bench/audit-durability.ts, in a worker thread (the client's CPU stays off the server's
 * event loop): `workers` keep-alive callers, each sequential, for `budgetMs`. Unlike
 * http-client.ts it counts a 503 (a decision refused because the audit is behind) instead of failing.
 */
import { Agent, request } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

export interface DurabilityJob {
  url: string;
  bodies: string[];
  workers: number;
  warmupMs: number;
  budgetMs: number;
}

export interface DurabilityRun {
  /** Latency of each 200, ns. */
  samples: number[];
  wallNs: number;
  refused: number;
}

const job = workerData as DurabilityJob;
const base = new URL(job.url);
const agent = new Agent({ keepAlive: true, maxSockets: job.workers });

function send(body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const req = request({ host: base.hostname, port: base.port, method: 'POST', path: '/access/v1/evaluation', agent, headers }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 || res.statusCode === 503 ? resolve(res.statusCode) : reject(new Error(`HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function run(ms: number): Promise<DurabilityRun> {
  const samples: number[] = [];
  let refused = 0;
  let next = 0;
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(ms) * 1_000_000n;
  const caller = async () => {
    while (process.hrtime.bigint() < deadline) {
      const t0 = process.hrtime.bigint();
      const status = await send(job.bodies[next++ % job.bodies.length] as string);
      if (status === 200) samples.push(Number(process.hrtime.bigint() - t0));
      else refused++;
    }
  };
  await Promise.all(Array.from({ length: job.workers }, caller));
  return { samples, wallNs: Number(process.hrtime.bigint() - started), refused };
}

run(job.warmupMs)
  .then(() => run(job.budgetMs))
  .then(
    (results) => {
      agent.destroy();
      parentPort?.postMessage({ ok: true, results });
    },
    (error: unknown) => {
      agent.destroy();
      parentPort?.postMessage({ ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    },
  );

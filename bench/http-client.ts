/**
 * The HTTP load generator. It runs in a worker thread so the client's own CPU (request
 * framing, response parsing) does not share the server's event loop.
 */
import { Agent, request } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import { measure } from './stats.js';

export interface HttpJob {
  url: string;
  /** JSON bodies of the single-evaluation mix, sent round-robin. */
  bodies: string[];
  /** Expected `decision` for each body, checked during warm-up. */
  expected: boolean[];
  /** One AuthZEN batch body and its expected item decisions. */
  batchBody: string;
  batchExpected: boolean[];
  sequential: { warmup: number; n: number; budgetMs: number };
  batch: { warmup: number; n: number; budgetMs: number };
  concurrent: { workers: number; n: number; budgetMs: number };
  /** Sent as `Authorization` on every request (a PEP credential), when set. */
  authorization?: string;
  /** Only the concurrent phase, with no decision check (a bare server that answers one fixed body). */
  throughputOnly?: boolean;
}

export interface HttpRun {
  samples: number[];
  wallNs: number;
}

export interface HttpResults {
  healthz: HttpRun;
  evaluation: HttpRun;
  evaluations: HttpRun;
  concurrent: HttpRun;
}

const job = workerData as HttpJob;
const base = new URL(job.url);
// Keep-alive with one socket per concurrent caller: no connection set-up is measured.
const agent = new Agent({ keepAlive: true, maxSockets: job.concurrent.workers });

function send(method: 'GET' | 'POST', path: string, body?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    if (job.authorization !== undefined) headers.authorization = job.authorization;
    const req = request({ host: base.hostname, port: base.port, method, path, agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${method} ${path}: HTTP ${res.statusCode}: ${text}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function check(got: unknown, want: boolean, what: string): void {
  if (got !== want) throw new Error(`${what}: expected decision ${want}, got ${String(got)}`);
}

async function verify(): Promise<void> {
  for (const [i, body] of job.bodies.entries()) {
    const answer = JSON.parse(await send('POST', '/access/v1/evaluation', body)) as { decision: unknown };
    check(answer.decision, job.expected[i] as boolean, `evaluation #${i}`);
  }
  const batch = JSON.parse(await send('POST', '/access/v1/evaluations', job.batchBody)) as { evaluations: Array<{ decision: unknown }> };
  job.batchExpected.forEach((want, i) => check(batch.evaluations[i]?.decision, want, `evaluations item #${i}`));
}

function roundRobin(): () => Promise<string> {
  let next = 0;
  return () => send('POST', '/access/v1/evaluation', job.bodies[next++ % job.bodies.length]);
}

/** `workers` callers in parallel, each sequential, until `n` requests or the time budget. */
async function concurrent(): Promise<HttpRun> {
  const { workers, n, budgetMs } = job.concurrent;
  const samples: number[] = [];
  const evaluate = roundRobin();
  for (let i = 0; i < 100; i++) await Promise.all(Array.from({ length: workers }, evaluate));
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(budgetMs) * 1_000_000n;
  let issued = 0;
  const caller = async () => {
    while (issued < n && process.hrtime.bigint() < deadline) {
      issued++;
      const t0 = process.hrtime.bigint();
      await evaluate();
      samples.push(Number(process.hrtime.bigint() - t0));
    }
  };
  await Promise.all(Array.from({ length: workers }, caller));
  return { samples, wallNs: Number(process.hrtime.bigint() - started) };
}

async function main(): Promise<HttpResults> {
  if (job.throughputOnly) {
    const none = { samples: [], wallNs: 0 };
    return { healthz: none, evaluation: none, evaluations: none, concurrent: await concurrent() };
  }
  await verify();
  const healthz = await measure(() => send('GET', '/healthz'), job.sequential);
  const evaluation = await measure(roundRobin(), job.sequential);
  const evaluations = await measure(() => send('POST', '/access/v1/evaluations', job.batchBody), job.batch);
  return { healthz, evaluation, evaluations, concurrent: await concurrent() };
}

main().then(
  (results) => {
    agent.destroy();
    parentPort?.postMessage({ ok: true, results });
  },
  (error: unknown) => {
    agent.destroy();
    parentPort?.postMessage({ ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  },
);

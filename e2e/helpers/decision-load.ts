/**
 * A decision load generator for fault-injection tests: concurrent loops of AuthZEN evaluations
 * against one or more replicas, recording every answer (status, decision, decision id, policy
 * version, timing) so a test can check each answered decision against the audit afterwards.
 */
import { Agent, request } from 'node:http';

/** Where a loop sends: read on every request, so a restarted replica's new URL is picked up. */
export interface LoadTarget {
  readonly name: string;
  readonly url: string;
}

/** One answer (or failure to get one) as the client saw it. */
export interface DecisionSample {
  replica: string;
  /** HTTP status; 0 when no HTTP answer came (connection refused/reset, client timeout). */
  status: number;
  /** `code` of an error body, or the client-side failure (`ECONNREFUSED`, `CLIENT_TIMEOUT`, …). */
  code: string | null;
  /** The AuthZEN `decision` of a 200. */
  decision: boolean | null;
  /** `context.id` of a 200: the decision id the audit must hold. */
  decisionId: string | null;
  /** `context.reason_admin.policy_version` of a 200. */
  policyVersion: number | null;
  /** `Retry-After` header of the answer, as sent. */
  retryAfter: string | null;
  /** Date.now() when the request was sent and when its answer (or failure) arrived. */
  sentAt: number;
  answeredAt: number;
}

export interface DecisionLoadOptions {
  targets: readonly LoadTarget[];
  tenant: string;
  /** Concurrent loops per target. */
  concurrency: number;
  /** The AuthZEN evaluation body (without `options`; `verity_context` is added). */
  request?: Record<string, unknown>;
  /** Client-side deadline per request (ms); past it the sample is status 0, code CLIENT_TIMEOUT. */
  clientTimeoutMs?: number;
  /** Pause after a failed connection before the loop tries again (ms, default 25): no busy loop on a dead port. */
  pauseAfterFailureMs?: number;
}

export interface DecisionLoad {
  /** Samples so far (the live array: filter by time for a phase of the experiment). */
  readonly samples: readonly DecisionSample[];
  /** Stop every loop and wait for the requests in flight. */
  stop(): Promise<DecisionSample[]>;
}

export const DEFAULT_EVALUATION = { subject: { type: 'User', id: 'alice' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd1' } };

function parseSample(replica: string, status: number, text: string, retryAfter: string | null, sentAt: number): DecisionSample {
  const sample: DecisionSample = { replica, status, code: null, decision: null, decisionId: null, policyVersion: null, retryAfter, sentAt, answeredAt: Date.now() };
  try {
    const body = JSON.parse(text) as { code?: unknown; decision?: unknown; context?: { id?: unknown; reason_admin?: { policy_version?: unknown } } };
    if (typeof body.code === 'string') sample.code = body.code;
    if (typeof body.decision === 'boolean') sample.decision = body.decision;
    if (typeof body.context?.id === 'string') sample.decisionId = body.context.id;
    if (typeof body.context?.reason_admin?.policy_version === 'number') sample.policyVersion = body.context.reason_admin.policy_version;
  } catch {
    sample.code = status === 200 ? 'BAD_JSON' : null;
  }
  return sample;
}

/** Send one evaluation; never rejects (a failure is a sample with status 0). */
export function evaluateOnce(target: LoadTarget, tenant: string, body: string, agent: Agent | undefined, timeoutMs: number): Promise<DecisionSample> {
  const sentAt = Date.now();
  const base = new URL(target.url);
  return new Promise((resolve) => {
    let settled = false;
    const fail = (code: string) => {
      if (settled) return;
      settled = true;
      resolve({ replica: target.name, status: 0, code, decision: null, decisionId: null, policyVersion: null, retryAfter: null, sentAt, answeredAt: Date.now() });
    };
    const req = request(
      {
        host: base.hostname,
        port: base.port,
        method: 'POST',
        path: `/tenants/${tenant}/access/v1/evaluation`,
        ...(agent === undefined ? {} : { agent }),
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: timeoutMs,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          const retryAfter = res.headers['retry-after'];
          resolve(parseSample(target.name, res.statusCode ?? 0, text, typeof retryAfter === 'string' ? retryAfter : null, sentAt));
        });
        res.on('error', (error: NodeJS.ErrnoException) => fail(error.code ?? 'RESPONSE_ERROR'));
      },
    );
    // A request that outlives the deadline is a stall: recorded as such, never waited on forever.
    const deadline = setTimeout(() => {
      fail('CLIENT_TIMEOUT');
      req.destroy();
    }, timeoutMs);
    req.on('close', () => clearTimeout(deadline));
    req.on('error', (error: NodeJS.ErrnoException) => fail(error.code ?? 'REQUEST_ERROR'));
    req.end(body);
  });
}

/** Start the loops; they run until `stop()`. */
export function startDecisionLoad(options: DecisionLoadOptions): DecisionLoad {
  const samples: DecisionSample[] = [];
  const body = JSON.stringify({ ...(options.request ?? DEFAULT_EVALUATION), options: { verity_context: true } });
  const timeoutMs = options.clientTimeoutMs ?? 15_000;
  const pause = options.pauseAfterFailureMs ?? 25;
  let running = true;
  const loops: Promise<void>[] = [];
  const agents: Agent[] = [];
  for (const target of options.targets) {
    // Keep-alive, one socket per loop, as a connection-pooling PEP would hold.
    const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
    agents.push(agent);
    for (let i = 0; i < options.concurrency; i++) {
      loops.push(
        (async () => {
          while (running) {
            const sample = await evaluateOnce(target, options.tenant, body, agent, timeoutMs);
            samples.push(sample);
            if (sample.status === 0) await new Promise((resolve) => setTimeout(resolve, pause));
          }
        })(),
      );
    }
  }
  return {
    samples,
    async stop() {
      running = false;
      await Promise.all(loops);
      for (const agent of agents) agent.destroy();
      return samples;
    },
  };
}

/**
 * Run `during` while the load runs; the load is stopped however `during` ends (a failed step
 * must not leave loops hammering a server after the experiment). Returns every sample and
 * what `during` returned.
 */
export async function runUnderLoad<T>(options: DecisionLoadOptions, during: (load: DecisionLoad) => Promise<T>): Promise<{ samples: DecisionSample[]; value: T }> {
  const load = startDecisionLoad(options);
  let value: T;
  try {
    value = await during(load);
  } finally {
    await load.stop();
  }
  return { samples: load.samples as DecisionSample[], value };
}

/** `verity workload agent`: attest a workload, keep its SVID current and serve the Workload API on a socket, until SIGINT/SIGTERM. */
import { resolve } from 'node:path';
import type { createWorkloadAgent, serveWorkloadApi, WorkloadAttestation } from '@verity/workload';
import type { Command, CommandIo } from '../command.js';
import { EXIT, usageError } from '../errors.js';
import { wantsJson, writeLines, writeResult } from '../output.js';
import { readToken } from '../token-service.js';

/** What the command needs from '@verity/workload'; injectable so tests need no PDP. */
export interface WorkloadAgentModule {
  createWorkloadAgent: typeof createWorkloadAgent;
  serveWorkloadApi: typeof serveWorkloadApi;
}

function requiredString(value: unknown, flag: string): string {
  if (typeof value !== 'string' || value === '') throw usageError(`--${flag} is required`);
  return value;
}

function parseMode(text: string | undefined): number {
  if (text === undefined) return 0o600;
  // Owner read-write at least (the agent's own user must reach it), nothing beyond the group.
  if (!/^0?[67][0-7]0$/.test(text)) throw usageError(`--socket-mode must be an octal mode from 600 to 770 (no access for others), got '${text}'`);
  return parseInt(text, 8);
}

async function attestationOf(values: Readonly<Record<string, unknown>>, io: CommandIo): Promise<WorkloadAttestation> {
  const joinFile = values['join-token-file'];
  const k8sFile = values['k8s-token-file'];
  if ((joinFile === undefined) === (k8sFile === undefined)) throw usageError('give exactly one of --join-token-file and --k8s-token-file');
  if (typeof joinFile === 'string') return { attestor: 'join_token', joinToken: await readToken(joinFile, io) };
  return { attestor: 'k8s_psat', tokenFile: resolve(io.cwd, k8sFile as string) };
}

/** Resolves when `signal` aborts (at once when there is none: a test io without signals). */
function aborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((done) => {
    if (signal === undefined || signal.aborted) return done();
    signal.addEventListener('abort', () => done(), { once: true });
  });
}

/** Builds the command around a loader of '@verity/workload' (the real one imports it lazily). */
export function createWorkloadAgentCommand(load: () => Promise<WorkloadAgentModule>): Command {
  return {
    name: 'workload agent',
    summary: 'Run a workload agent: attest once, rotate the SVID, serve the Workload API on a socket',
    usage: '--pdp URL --tenant T (--join-token-file FILE | --k8s-token-file FILE) --socket PATH [--socket-mode MODE] [--poll-interval MS]',
    arguments: [],
    options: {
      pdp: { type: 'string', valueName: 'URL', description: 'the Verity PDP (https; http only on loopback)' },
      tenant: { type: 'string', short: 't', valueName: 'T', description: 'tenant id (required)' },
      'join-token-file': { type: 'string', valueName: 'FILE', description: "a one-time join token ('-' for stdin)" },
      'k8s-token-file': { type: 'string', valueName: 'FILE', description: 'a projected Kubernetes service-account token, re-read at each attestation' },
      socket: { type: 'string', valueName: 'PATH', description: 'where to serve the Workload API (a Unix domain socket)' },
      'socket-mode': { type: 'string', valueName: 'MODE', description: 'octal permissions of the socket (default 600)' },
      'poll-interval': { type: 'string', valueName: 'MS', description: 'how often the bundle and deny list are re-read (default 5000)' },
    },
    details: [
      'Attests with the join token (used once, never printed) or the Kubernetes token, then renews the',
      'X.509-SVID at half its lifetime with a new key each time, and keeps the trust bundle and, with',
      'VERITY_PEP_TOKEN (a PEP credential of the tenant), the deny list current. Runs until SIGINT/SIGTERM.',
      'Access boundary: the socket file permissions (default 0600) and its directory. Unlike SPIRE, the',
      'agent does not attest the calling process: anyone who can open the socket gets the SVID and its',
      'key. Run one agent per workload user and put the socket in a directory only that user can enter.',
      'The Workload API (JSON over HTTP on the socket, header workload.spiffe.io: true): GET /v1/x509-svid',
      '(?watch=1: NDJSON, one document per change), POST /v1/jwt-svid {audience}, GET /v1/bundle.',
      'Failures (a renewal retried, an SVID that expired) are reported on stderr.',
    ].join('\n'),
    async run(args, io) {
      const v = args.values;
      const pdpUrl = requiredString(v['pdp'], 'pdp');
      const tenant = requiredString(v['tenant'], 'tenant');
      const socketPath = resolve(io.cwd, requiredString(v['socket'], 'socket'));
      const mode = parseMode(v['socket-mode'] as string | undefined);
      const poll = v['poll-interval'] as string | undefined;
      if (poll !== undefined && !/^[1-9][0-9]{2,7}$/.test(poll)) throw usageError(`--poll-interval must be a whole number of ms from 100, got '${poll}'`);
      const attestation = await attestationOf(v, io);
      const pepCredential = io.env['VERITY_PEP_TOKEN'] || undefined;
      const workload = await load();
      const report = (error: unknown) => writeLines(io.stderr, `verity: workload agent: ${error instanceof Error ? error.message : String(error)}`);
      let agent: ReturnType<typeof createWorkloadAgent>;
      try {
        agent = workload.createWorkloadAgent({
          pdpUrl,
          tenant,
          attestation,
          fetch: io.fetch,
          onError: report,
          ...(pepCredential === undefined ? {} : { pepCredential }),
          ...(poll === undefined ? {} : { pollIntervalMs: Number(poll) }),
        });
      } catch (error) {
        if (error instanceof TypeError) throw usageError(error.message.replace(/^createWorkloadAgent: /, ''));
        throw error;
      }
      const stop = aborted(io.signal);
      try {
        const first = await Promise.race([agent.start().then(() => true), stop.then(() => false)]);
        if (!first) return EXIT.INTERRUPTED;
        const api = await workload.serveWorkloadApi({ socketPath, agent, mode, onError: report });
        let { svid } = agent.current();
        writeResult(args, io, { spiffe_id: svid.spiffeId, expires_at: new Date(svid.expiresAtMs).toISOString(), socket: socketPath }, () =>
          writeLines(io.stdout, `workload agent for ${svid.spiffeId} serving ${socketPath} (SVID expires ${new Date(svid.expiresAtMs).toISOString()})`),
        );
        const notices = wantsJson(args) ? io.stderr : io.stdout;
        agent.subscribe(() => {
          const next = agent.state().svid;
          if (next === null || next === svid) return;
          svid = next;
          writeLines(notices, `SVID renewed, expires ${new Date(next.expiresAtMs).toISOString()}`);
        });
        await stop;
        await api.close();
        writeLines(io.stderr, 'workload agent stopped');
        return EXIT.OK;
      } finally {
        await agent.close();
      }
    },
  };
}

export const workloadAgent: Command = createWorkloadAgentCommand(() => import('@verity/workload'));

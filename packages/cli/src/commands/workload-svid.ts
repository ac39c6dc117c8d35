/** `verity workload svid --socket PATH`: fetch the X.509-SVID (optionally into PEM files) or a JWT-SVID from a workload agent. */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { createWorkloadApiClient } from '@verity/workload';
import type { Command } from '../command.js';
import { cliError, EXIT, usageError } from '../errors.js';
import { writeJson, writeLines, writeResult } from '../output.js';

/** What the command needs from '@verity/workload'; injectable for tests. */
export interface WorkloadSvidModule {
  createWorkloadApiClient: typeof createWorkloadApiClient;
}

/** The file names written by `--out DIR`. */
export const SVID_FILES = { svid: 'svid.pem', key: 'key.pem', bundle: 'bundle.pem' } as const;

const pem = (blocks: readonly string[]): string => blocks.map((block) => `${block.trim()}\n`).join('');

/**
 * Writes a private key: into a new 0600 file, renamed over the old one, so the key is never in a
 * file anyone else could read (not even for a moment in a key file left from before with wider permissions).
 */
async function writePrivate(path: string, content: string): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, content, { mode: 0o600, flag: 'wx' });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** A socket that cannot be reached is the agent not running, not a bad file argument. */
function unreachable(error: unknown, socketPath: string): Error {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^(ENOENT|ECONNREFUSED|EACCES|ENOTSOCK|UND_ERR_SOCKET)$/.test(code)) {
    return cliError('ERR_CLI_UNREACHABLE', `cannot reach the workload agent at ${socketPath} (${code})`);
  }
  return error as Error;
}

/** Builds the command around a loader of '@verity/workload' (the real one imports it lazily). */
export function createWorkloadSvidCommand(load: () => Promise<WorkloadSvidModule>): Command {
  return {
    name: 'workload svid',
    summary: "Fetch this workload's X.509-SVID (or a JWT-SVID) from the workload agent's socket",
    usage: '--socket PATH [--out DIR] [--jwt-audience AUD…]',
    arguments: [],
    options: {
      socket: { type: 'string', valueName: 'PATH', description: "the agent's Workload API socket (required)" },
      out: { type: 'string', valueName: 'DIR', description: `write ${SVID_FILES.svid} (leaf and intermediate), ${SVID_FILES.key} (mode 0600) and ${SVID_FILES.bundle} (the trusted roots)` },
      'jwt-audience': { type: 'string', valueName: 'AUD', multiple: true, description: 'print a JWT-SVID for this audience instead' },
    },
    details: [
      'Prints the SPIFFE id and the expiry of the X.509-SVID; the key is written only with --out, never',
      'printed. With --jwt-audience, the JWT-SVID is the only thing on stdout (TOKEN=$(verity workload',
      'svid --socket S --jwt-audience spiffe://td/api)), its expiry goes to stderr. --json prints',
      '{spiffe_id, expires_at, files} or {token, expires_at}.',
    ].join('\n'),
    async run(args, io) {
      const v = args.values;
      if (typeof v['socket'] !== 'string' || v['socket'] === '') throw usageError('--socket is required');
      const socketPath = resolve(io.cwd, v['socket']);
      const audience = v['jwt-audience'] as readonly string[] | undefined;
      if (audience !== undefined && v['out'] !== undefined) throw usageError('use either --out or --jwt-audience, not both');
      const client = (await load()).createWorkloadApiClient({ socketPath });
      try {
        if (audience !== undefined) {
          const jwt = await client.jwtSvid(audience).catch((error: unknown) => Promise.reject(unreachable(error, socketPath)));
          const expiresAt = new Date(jwt.expiresAtMs).toISOString();
          if (args.values['json'] === true) writeJson(io.stdout, { token: jwt.token, expires_at: expiresAt });
          else {
            writeLines(io.stdout, jwt.token);
            writeLines(io.stderr, `JWT-SVID for ${audience.join(' ')}, expires ${expiresAt}`);
          }
          return EXIT.OK;
        }
        const { svid, bundle } = await client.x509Svid().catch((error: unknown) => Promise.reject(unreachable(error, socketPath)));
        let files: Record<string, string> | undefined;
        if (typeof v['out'] === 'string') {
          const dir = resolve(io.cwd, v['out']);
          await mkdir(dir, { recursive: true, mode: 0o700 });
          files = { svid: join(dir, SVID_FILES.svid), key: join(dir, SVID_FILES.key), bundle: join(dir, SVID_FILES.bundle) };
          await writePrivate(files['key'] as string, pem([svid.privateKeyPem]));
          await writeFile(files['svid'] as string, pem(svid.certChainPem));
          await writeFile(files['bundle'] as string, pem(bundle.x509Authorities));
        }
        const expiresAt = new Date(svid.expiresAtMs).toISOString();
        writeResult(args, io, { spiffe_id: svid.spiffeId, expires_at: expiresAt, ...(files === undefined ? {} : { files }) }, () => {
          writeLines(io.stdout, svid.spiffeId, `expires ${expiresAt}`);
          if (files !== undefined) writeLines(io.stdout, `wrote ${Object.values(files).join(', ')}`);
        });
        return EXIT.OK;
      } finally {
        await client.close();
      }
    },
  };
}

export const workloadSvid: Command = createWorkloadSvidCommand(() => import('@verity/workload'));

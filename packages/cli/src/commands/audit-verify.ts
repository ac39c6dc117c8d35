/**
 * `verity audit verify --tenant T [--checkpoint FILE]`: have the server re-check a tenant's audit
 * hash chain, and check it against a kept checkpoint. `--file EXPORT`: check an exported audit
 * here, without a server.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { checkAuditCheckpoint, isPlainObject, isVerityError, type AuditEvent, type AuditProblem } from '@verity/core';
import type { Command, CommandIo, ParsedArgs } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption, type VerityClient } from '../client.js';
import { checkAuditExport } from '../audit-export.js';
import { cliError, EXIT } from '../errors.js';
import { writeLines, writeResult } from '../output.js';

interface VerifyAnswer {
  ok: boolean;
  checked: number;
  problems: Array<{ seq: number; kind: string }>;
}

/** What a checkpoint file holds (the output of `verity audit checkpoint`). */
async function readCheckpointFile(io: CommandIo, file: string): Promise<{ jws: string; publicKey: Record<string, unknown> }> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(resolve(io.cwd, file), 'utf8'));
  } catch (error) {
    if (error instanceof SyntaxError) throw cliError('ERR_CLI_CHECKPOINT_FILE', `${file} is not JSON`);
    throw error;
  }
  if (!isPlainObject(value) || typeof value.jws !== 'string' || !isPlainObject(value.publicKey)) {
    throw cliError('ERR_CLI_CHECKPOINT_FILE', `${file} must hold {jws, publicKey}, as written by \`verity audit checkpoint\``);
  }
  return { jws: value.jws, publicKey: value.publicKey };
}

type CheckpointProblem = AuditProblem | { seq: number; kind: 'checkpoint-signature' };

/**
 * The problem of a tenant's chain against a kept checkpoint, or null: `eventAt` reads the
 * chain's event at the checkpoint's seq, once the checkpoint is known to be the tenant's. The
 * signature is checked here, with the key kept in the file, not by the server whose database it
 * is meant to check.
 */
async function checkpointProblem(args: ParsedArgs, io: CommandIo, tenant: string, eventAt: (seq: number) => Promise<AuditEvent | undefined>): Promise<CheckpointProblem | null> {
  const file = args.values['checkpoint'] as string;
  const { jws, publicKey } = await readCheckpointFile(io, file);
  // '@verity/server' loads Fastify and the database drivers: only when a checkpoint is checked,
  // not at every `verity` start.
  const { verifyAuditCheckpoint } = await import('@verity/server');
  let stated;
  try {
    stated = await verifyAuditCheckpoint(jws, publicKey);
  } catch (error) {
    if (isVerityError(error) && error.code === 'ERR_AUDIT_CHECKPOINT_INVALID') return { seq: 0, kind: 'checkpoint-signature' };
    throw error;
  }
  if (stated.tenant !== tenant) throw cliError('ERR_CLI_CHECKPOINT_FILE', `${file} is a checkpoint of tenant "${stated.tenant}", not "${tenant}"`);
  if (stated.seq === 0) return checkAuditCheckpoint(undefined, stated);
  return checkAuditCheckpoint(await eventAt(stated.seq), stated);
}

/** The server's event at `seq` of the chain at `path`. */
function serverEventAt(client: VerityClient, path: string): (seq: number) => Promise<AuditEvent | undefined> {
  return async (seq) => (await client.request<{ events: AuditEvent[] }>('GET', `${path}/audit`, { query: { after: String(seq - 1), limit: '1' } })).events[0];
}

function writeVerdict(args: ParsedArgs, io: CommandIo, result: VerifyAnswer, extra: string): void {
  writeResult(args, io, result, () => {
    writeLines(io.stdout, ...result.problems.map((p) => (p.kind === 'checkpoint-signature' ? 'problem: the checkpoint signature does not verify' : `problem at seq ${p.seq}: ${p.kind}`)));
    writeLines(io.stdout, result.ok ? `ok: ${result.checked} events checked${extra}` : `FAILED: ${result.problems.length} problems in ${result.checked} events checked`);
  });
}

/**
 * `--file`: an export (`tenant delete --export-audit`) checked here, no server asked: every
 * event's hash and link from the first, one tenant (--tenant's when given), and with
 * --checkpoint that the file holds the signed head. Without a checkpoint nothing says the file
 * is whole: compare the head printed with the one the removal recorded.
 */
async function verifyFile(args: ParsedArgs, io: CommandIo, name: string): Promise<number> {
  const checkpointSeq = args.values['checkpoint'] === undefined ? undefined : await readCheckpointSeq(io, args.values['checkpoint'] as string);
  const checked = await checkAuditExport(resolve(io.cwd, name), name, checkpointSeq);
  const tenant = typeof args.values['tenant'] === 'string' ? args.values['tenant'] : checked.tenant;
  if (checked.tenant !== null && tenant !== checked.tenant) throw cliError('ERR_CLI_AUDIT_FILE', `${name} holds the audit of tenant "${checked.tenant}", not "${tenant}"`);
  const problems: Array<AuditProblem | CheckpointProblem> = [...checked.problems];
  if (args.values['checkpoint'] !== undefined) {
    if (tenant === null) throw cliError('ERR_CLI_AUDIT_FILE', `${name} holds no event: give --tenant to check a checkpoint against it`);
    const problem = await checkpointProblem(args, io, tenant, async () => checked.at);
    if (problem) problems.push(problem);
  }
  const result = { ok: problems.length === 0, checked: checked.checked, problems, tenant, head: checked.head };
  writeVerdict(args, io, result, `, through seq ${checked.head.seq} (hash ${checked.head.hash})`);
  return result.ok ? EXIT.OK : EXIT.CHECK_FAILED;
}

/** The seq a checkpoint file names, unverified (only to keep that event while the file is read; the check verifies it). */
async function readCheckpointSeq(io: CommandIo, file: string): Promise<number | undefined> {
  const { jws } = await readCheckpointFile(io, file);
  try {
    const payload = JSON.parse(Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString('utf8')) as { seq?: unknown };
    return typeof payload.seq === 'number' ? payload.seq : undefined;
  } catch {
    return undefined;
  }
}

export const auditVerify: Command = {
  name: 'audit verify',
  summary: "Verify a tenant's audit hash chain (exit 1 on problems)",
  usage: '--tenant T [--checkpoint FILE] | --file EXPORT [--checkpoint FILE]',
  arguments: [],
  options: {
    ...tenantOption,
    checkpoint: { type: 'string', valueName: 'FILE', description: 'also require the head a kept checkpoint names (from `verity audit checkpoint`)' },
    file: { type: 'string', valueName: 'EXPORT', description: 'check an exported audit (tenant delete --export-audit) here, without a server' },
    ...remoteOptions,
  },
  details: `The server re-checks every event's hash and link and that the chain ends at its stored
head. With --checkpoint, the checkpoint's signature is verified here with the public key in the
file, and the chain must still hold the checkpointed hash at its seq: a deleted or rewritten
tail fails even when the stored head was rewritten too.

With --file, an export written by \`verity tenant delete --export-audit\` is checked here, no
server asked: every event's hash and link from the first, and with --checkpoint (the
FILE.checkpoint.json written beside it) that the file holds the signed head. It prints the head
the file reaches, to compare with the one the removal recorded.
${remoteDetails}`,
  async run(args, io) {
    const file = args.values['file'];
    if (typeof file === 'string') return verifyFile(args, io, file);
    const path = adminTenantPath(args);
    const client = clientFromArgs(args, io);
    const answer = await client.request<VerifyAnswer>('GET', `${path}/audit/verify`);
    const problems = [...(answer.problems ?? [])];
    if (args.values['checkpoint'] !== undefined) {
      const problem = await checkpointProblem(args, io, args.values['tenant'] as string, serverEventAt(client, path));
      if (problem) problems.push(problem);
    }
    const result = { ...answer, ok: answer.ok === true && problems.length === 0, problems };
    writeVerdict(args, io, result, '');
    return result.ok ? EXIT.OK : EXIT.CHECK_FAILED;
  },
};

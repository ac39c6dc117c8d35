/** `verity audit verify --tenant T [--checkpoint FILE]`: have the server re-check a tenant's audit hash chain, and check it against a kept checkpoint. */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { checkAuditCheckpoint, isPlainObject, isVerityError, type AuditEvent, type AuditProblem } from '@verity/core';
import type { Command, CommandIo, ParsedArgs } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption, type VerityClient } from '../client.js';
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

/**
 * The problem of the tenant's chain against a kept checkpoint, or null. The signature is checked
 * here, with the key kept in the file, not by the server whose database it is meant to check.
 */
async function checkpointProblem(args: ParsedArgs, io: CommandIo, client: VerityClient, path: string, tenant: string): Promise<AuditProblem | { seq: number; kind: 'checkpoint-signature' } | null> {
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
  const page = await client.request<{ events: AuditEvent[] }>('GET', `${path}/audit`, { query: { after: String(stated.seq - 1), limit: '1' } });
  return checkAuditCheckpoint(page.events[0], stated);
}

export const auditVerify: Command = {
  name: 'audit verify',
  summary: "Verify a tenant's audit hash chain (exit 1 on problems)",
  usage: '--tenant T [--checkpoint FILE]',
  arguments: [],
  options: {
    ...tenantOption,
    checkpoint: { type: 'string', valueName: 'FILE', description: 'also require the head a kept checkpoint names (from `verity audit checkpoint`)' },
    ...remoteOptions,
  },
  details: `The server re-checks every event's hash and link and that the chain ends at its stored
head. With --checkpoint, the checkpoint's signature is verified here with the public key in the
file, and the chain must still hold the checkpointed hash at its seq: a deleted or rewritten
tail fails even when the stored head was rewritten too.
${remoteDetails}`,
  async run(args, io) {
    const path = adminTenantPath(args);
    const client = clientFromArgs(args, io);
    const answer = await client.request<VerifyAnswer>('GET', `${path}/audit/verify`);
    const problems = [...(answer.problems ?? [])];
    if (args.values['checkpoint'] !== undefined) {
      const problem = await checkpointProblem(args, io, client, path, args.values['tenant'] as string);
      if (problem) problems.push(problem);
    }
    const ok = answer.ok === true && problems.length === 0;
    const result = { ...answer, ok, problems };
    writeResult(args, io, result, () => {
      writeLines(io.stdout, ...problems.map((p) => (p.kind === 'checkpoint-signature' ? 'problem: the checkpoint signature does not verify' : `problem at seq ${p.seq}: ${p.kind}`)));
      writeLines(io.stdout, ok ? `ok: ${answer.checked} events checked` : `FAILED: ${problems.length} problems in ${answer.checked} events checked`);
    });
    return ok ? EXIT.OK : EXIT.CHECK_FAILED;
  },
};

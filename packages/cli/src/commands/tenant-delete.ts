/** `verity tenant delete ID --yes [--export-audit FILE]`: delete a tenant and everything of it but its audit, which is kept or exported and removed. */
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { AuditChainHead } from '@verity/core';
import type { Command, CommandIo } from '../command.js';
import { clientFromArgs, remoteDetails, remoteOptions, type VerityClient } from '../client.js';
import { createAuditExporter, type AuditExporter } from '../audit-export.js';
import { cliError, CliError, EXIT, usageError } from '../errors.js';
import { writeLines, writeResult } from '../output.js';
import type { CheckpointFile } from './audit-checkpoint.js';

/** Removals asked for before giving up, each after exporting what came since the last. */
const REMOVAL_ATTEMPTS = 5;

/** What `--export-audit` did. */
interface ExportOutcome {
  file: string;
  checkpointFile: string;
  events: number;
  exportedThrough: AuditChainHead;
  /** False where the server keeps deleted tenants' audits (tenantDeletionAudit: keep). */
  removed: boolean;
}

const isCode = (error: unknown, code: string): boolean => error instanceof CliError && error.code === code;

/** A new file (never an existing one: an older export is evidence too), created before anything is deleted. */
async function createFile(io: CommandIo, name: string): Promise<FileHandle> {
  return open(resolve(io.cwd, name), 'wx');
}

/**
 * Ask the server to remove the audit at the head exported; where records came after the export
 * (a decision answered just before the deletion), export them too and ask again.
 */
async function removeExported(client: VerityClient, path: string, exporter: AuditExporter, file: FileHandle, head: AuditChainHead): Promise<{ head: AuditChainHead; removed: boolean }> {
  for (let attempt = 1; ; attempt++) {
    // The export is the only copy once the audit is removed: on disk first.
    await file.sync();
    try {
      await client.request('DELETE', `${path}/audit`, { query: { exportedThrough: `${head.seq}:${head.hash}` } });
      return { head, removed: true };
    } catch (error) {
      if (isCode(error, 'ERR_AUDIT_REMOVAL_DISABLED')) return { head, removed: false };
      if (!isCode(error, 'ERR_AUDIT_NOT_EXPORTED') || attempt === REMOVAL_ATTEMPTS) throw error;
    }
    head = await exporter.catchUp();
    if (exporter.problems.length > 0) throw cliError('ERR_CLI_AUDIT_CHAIN', 'the audit exported does not verify: it is kept in the store');
  }
}

/**
 * Delete the tenant (already deleted: go on with its kept audit), then write its whole audit to
 * `name` and a checkpoint signed by the server beside it, check the chain, and have the server
 * remove the audit at the head the export reached.
 */
async function deleteExporting(client: VerityClient, io: CommandIo, id: string, name: string): Promise<ExportOutcome> {
  const path = `/admin/v1/tenants/${encodeURIComponent(id)}`;
  const checkpointFile = `${name}.checkpoint.json`;
  const file = await createFile(io, name);
  try {
    const checkpointOut = await createFile(io, checkpointFile);
    try {
      await client.request('DELETE', path).catch((error: unknown) => {
        if (!isCode(error, 'ERR_TENANT_NOT_FOUND')) throw error;
        // Deleted before (an earlier run stopped after it): its kept audit is still there, or 404s below.
      });
      // Signed after the deletion, so it covers every decision answered before it on this replica.
      const checkpoint = await client.request<CheckpointFile>('POST', `${path}/audit/checkpoints`);
      await checkpointOut.write(`${JSON.stringify(checkpoint, null, 2)}\n`);
      await checkpointOut.sync();
    } catch (error) {
      // Nothing exported yet: leave no empty files behind.
      await Promise.all([unlink(resolve(io.cwd, name)), unlink(resolve(io.cwd, checkpointFile))]);
      throw error;
    } finally {
      await checkpointOut.close();
    }
    const exporter = createAuditExporter(client, path, file);
    const exported = await exporter.catchUp();
    if (exporter.problems.length > 0) {
      const [first] = exporter.problems;
      throw cliError('ERR_CLI_AUDIT_CHAIN', `the audit of "${id}" does not verify (seq ${first?.seq}: ${first?.kind}): it is exported to ${name} but kept in the store`);
    }
    const { head, removed } = await removeExported(client, path, exporter, file, exported);
    return { file: name, checkpointFile, events: exporter.exported, exportedThrough: head, removed };
  } finally {
    await file.close();
  }
}

export const tenantDelete: Command = {
  name: 'tenant delete',
  summary: 'Delete a tenant (its audit is kept, or exported to a file and removed)',
  usage: 'ID --yes [--export-audit FILE]',
  arguments: ['ID'],
  options: {
    yes: { type: 'boolean', description: 'confirm: the tenant cannot be restored' },
    'export-audit': { type: 'string', valueName: 'FILE', description: "write the tenant's audit to FILE (JSON lines; must not exist), then remove it from the store" },
    ...remoteOptions,
  },
  details: [
    'Deletes the tenant\'s policy store and every version, its entities, settings and their versions,',
    'identity sources, clients, signing and bundle keys, credentials, workloads and their CA, devices,',
    'threat lists and activity, in one transaction, and drops every replica\'s and PEP\'s view',
    'of it. Its audit is kept: a platform admin still reads and verifies it (`verity audit',
    'tail/verify`). The id is never used again. Platform admins only.',
    '',
    'With --export-audit FILE, after the deletion: writes the whole audit to FILE, one event a line',
    'with its hash, and a checkpoint of its head signed by the server to FILE.checkpoint.json',
    '(both fsync\'d), checks the chain, then has the server remove the audit at the head the export',
    'reached (records that came after are exported first). `verity audit verify --file FILE',
    '--checkpoint FILE.checkpoint.json` verifies the export offline. A server that keeps deleted',
    "tenants' audits (tenantDeletionAudit: keep, the default) keeps it in the store as well.",
    'An audit that does not verify is exported but not removed (exit 1). Run again after a',
    'failure: a tenant already deleted goes on with its kept audit.',
    remoteDetails,
  ].join('\n'),
  async run(args, io) {
    const id = args.positionals[0] ?? '';
    if (args.values['yes'] !== true) throw usageError(`deleting tenant "${id}" cannot be undone: add --yes`);
    const client = clientFromArgs(args, io);
    const file = args.values['export-audit'];
    if (typeof file !== 'string') {
      const answer = await client.request<{ id: string }>('DELETE', `/admin/v1/tenants/${encodeURIComponent(id)}`);
      writeResult(args, io, answer, () => writeLines(io.stdout, `deleted tenant ${answer.id}; its audit is kept`));
      return EXIT.OK;
    }
    const outcome = await deleteExporting(client, io, id, file);
    const through = `seq ${outcome.exportedThrough.seq}, hash ${outcome.exportedThrough.hash}`;
    writeResult(args, io, { id, deleted: true, auditExported: outcome, auditKept: !outcome.removed }, () =>
      writeLines(
        io.stdout,
        `deleted tenant ${id}; its audit (${outcome.events} events, through ${through}) is exported to ${outcome.file}, with a signed checkpoint in ${outcome.checkpointFile}`,
        outcome.removed ? 'and removed from the store' : "and kept in the store too: this server keeps deleted tenants' audits (tenantDeletionAudit: keep)",
      ),
    );
    return EXIT.OK;
  },
};

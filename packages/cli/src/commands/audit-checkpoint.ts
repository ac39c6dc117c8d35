/** `verity audit checkpoint --tenant T [--out FILE]`: have the server sign a checkpoint of the tenant's audit chain head now. */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption } from '../client.js';
import { EXIT } from '../errors.js';
import { writeJson, writeLines, wantsJson } from '../output.js';

/** The checkpoint as the server exports it; the file `audit verify --checkpoint` reads. */
export interface CheckpointFile {
  tenant: string;
  seq: number;
  hash: string;
  time: string;
  jws: string;
  publicKey: Record<string, unknown>;
}

export const auditCheckpoint: Command = {
  name: 'audit checkpoint',
  summary: "Sign a checkpoint of a tenant's audit chain head (keep the copy outside Verity)",
  usage: '--tenant T [--out FILE]',
  arguments: [],
  options: {
    ...tenantOption,
    out: { type: 'string', short: 'o', valueName: 'FILE', description: 'write the checkpoint (JSON) to FILE, which must not exist yet, instead of stdout' },
    ...remoteOptions,
  },
  details: `Prints (or writes) the signed checkpoint and the public key that verifies it, as JSON.
Keep the file somewhere Verity's database cannot reach; \`verity audit verify --checkpoint FILE\`
later fails if the chain no longer holds that head (tail deleted or rewritten).
${remoteDetails}`,
  async run(args, io) {
    const path = `${adminTenantPath(args)}/audit/checkpoints`;
    const checkpoint = await clientFromArgs(args, io).request<CheckpointFile>('POST', path);
    const out = args.values['out'] as string | undefined;
    if (out === undefined) {
      writeJson(io.stdout, checkpoint);
      return EXIT.OK;
    }
    // Never overwrites: an older checkpoint file is evidence too.
    await writeFile(resolve(io.cwd, out), `${JSON.stringify(checkpoint, null, 2)}\n`, { flag: 'wx' });
    if (wantsJson(args)) writeJson(io.stdout, checkpoint);
    else writeLines(io.stdout, `checkpoint of ${checkpoint.tenant} at seq ${checkpoint.seq} written to ${out}`);
    return EXIT.OK;
  },
};

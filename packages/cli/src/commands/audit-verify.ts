/** `verity audit verify --tenant T`: have the server re-check a tenant's audit hash chain. */
import type { Command } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption } from '../client.js';
import { EXIT } from '../errors.js';
import { writeLines, writeResult } from '../output.js';

interface VerifyAnswer {
  ok: boolean;
  checked: number;
  problems: Array<{ seq: number; kind: string }>;
}

export const auditVerify: Command = {
  name: 'audit verify',
  summary: "Verify a tenant's audit hash chain (exit 1 on problems)",
  usage: '--tenant T',
  arguments: [],
  options: { ...tenantOption, ...remoteOptions },
  details: remoteDetails,
  async run(args, io) {
    const path = `${adminTenantPath(args)}/audit/verify`;
    const answer = await clientFromArgs(args, io).request<VerifyAnswer>('GET', path);
    const problems = answer.problems ?? [];
    const ok = answer.ok === true && problems.length === 0;
    writeResult(args, io, answer, () => {
      writeLines(io.stdout, ...problems.map((p) => `problem at seq ${p.seq}: ${p.kind}`));
      writeLines(io.stdout, ok ? `ok: ${answer.checked} events checked` : `FAILED: ${problems.length} problems in ${answer.checked} events checked`);
    });
    return ok ? EXIT.OK : EXIT.CHECK_FAILED;
  },
};

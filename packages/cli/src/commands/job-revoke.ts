/** `verity job revoke ID --tenant T`: end every token of a job (exchanged with `job_id=ID`) at once. */
import type { Command } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption } from '../client.js';
import { EXIT, usageError } from '../errors.js';
import { writeLines, writeResult } from '../output.js';

/** The server's job id rule: 1-128 letters, digits, ".", "_", ":" or "-". */
export const JOB_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export const jobRevoke: Command = {
  name: 'job revoke',
  summary: 'Revoke every token of a job (its job_id) issued until now, on every replica and PEP',
  usage: 'ID --tenant T',
  arguments: ['ID'],
  options: { ...tenantOption, ...remoteOptions },
  details: [
    'POSTs to /admin/v1/tenants/T/jobs/ID/revoke (the same as `token revoke --job ID`). Every',
    'token the token service exchanged with job_id=ID, and every token exchanged from those,',
    'issued until now is refused from then on. Needs a policy-author (or platform-admin) credential.',
    remoteDetails,
  ].join('\n'),
  async run(args, io) {
    const id = args.positionals[0] ?? '';
    if (!JOB_ID.test(id)) throw usageError('ID must be a job id: 1-128 letters, digits, ".", "_", ":" or "-"');
    const answer = await clientFromArgs(args, io).request<object>('POST', `${adminTenantPath(args)}/jobs/${id}/revoke`);
    writeResult(args, io, answer, () => writeLines(io.stdout, `revoked every token of job ${id} issued until now`));
    return EXIT.OK;
  },
};

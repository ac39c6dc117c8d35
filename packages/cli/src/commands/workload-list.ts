/** `verity workload list --tenant T`: the workloads registered in a tenant. */
import type { Command } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption } from '../client.js';
import { EXIT } from '../errors.js';
import { writeResult, writeTable } from '../output.js';

/** A registration as the admin API answers it (docs/workload-identity.md). */
export interface WorkloadView {
  id: string;
  tenant: string;
  spiffe_id: string;
  selectors: string[];
  attestor: string;
  x509_ttl_sec: number;
  jwt_ttl_sec: number;
  created_at: string;
}

export const workloadList: Command = {
  name: 'workload list',
  summary: "List a tenant's registered workloads",
  usage: '--tenant T',
  arguments: [],
  options: { ...tenantOption, ...remoteOptions },
  details: remoteDetails,
  async run(args, io) {
    const answer = await clientFromArgs(args, io).request<{ workloads: WorkloadView[] }>('GET', `${adminTenantPath(args)}/workloads`);
    writeResult(args, io, answer, () =>
      writeTable(
        io.stdout,
        answer.workloads,
        [
          { header: 'ID', cell: (w) => w.id },
          { header: 'SPIFFE ID', cell: (w) => w.spiffe_id },
          { header: 'ATTESTOR', cell: (w) => w.attestor },
          { header: 'X509 TTL', cell: (w) => `${w.x509_ttl_sec}s` },
          { header: 'JWT TTL', cell: (w) => `${w.jwt_ttl_sec}s` },
          { header: 'CREATED', cell: (w) => w.created_at },
          { header: 'SELECTORS', cell: (w) => (w.selectors ?? []).join(',') || '-' },
        ],
        'no workloads',
      ),
    );
    return EXIT.OK;
  },
};

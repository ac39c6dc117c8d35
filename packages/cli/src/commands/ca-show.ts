/** `verity ca show --tenant T [--pem]`: a tenant's workload CA: trust domain, authorities, JWT-SVID keys. */
import type { Command, CommandIo, ParsedArgs } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption } from '../client.js';
import { EXIT } from '../errors.js';
import { show, writeLines, writeResult, writeTable } from '../output.js';

/** The CA as the admin API answers it (docs/workload-identity.md). */
export interface CaView {
  trust_domain: string;
  authorities: Array<{ id: string; state: string; root_pem: string; intermediate_pem: string; not_after: string; retire_after?: string }>;
  jwt_authorities: Array<{ kid: string; state: string }>;
}

/** The human form: authorities and JWT keys as tables, or with `--pem` the trusted roots' PEM. */
export function writeCa(args: ParsedArgs, io: CommandIo, ca: CaView, headline: string): void {
  writeResult(args, io, ca, () => {
    if (args.values['pem'] === true) {
      // Only the roots: what a peer outside Verity needs to trust this tenant's SVIDs.
      io.stdout.write(ca.authorities.map((a) => `${a.root_pem.trimEnd()}\n`).join(''));
      return;
    }
    writeLines(io.stdout, headline, '');
    writeTable(
      io.stdout,
      ca.authorities,
      [
        { header: 'AUTHORITY', cell: (a) => a.id },
        { header: 'STATE', cell: (a) => a.state },
        { header: 'NOT AFTER', cell: (a) => a.not_after },
        { header: 'RETIRE AFTER', cell: (a) => show(a.retire_after) },
      ],
      'no X.509 authorities',
    );
    writeLines(io.stdout, '');
    writeTable(io.stdout, ca.jwt_authorities, [{ header: 'JWT-SVID KEY', cell: (k) => k.kid }, { header: 'STATE', cell: (k) => k.state }], 'no JWT-SVID keys');
  });
}

export const caShow: Command = {
  name: 'ca show',
  summary: "Show a tenant's workload CA (trust domain, authorities, JWT-SVID keys)",
  usage: '--tenant T [--pem]',
  arguments: [],
  options: {
    ...tenantOption,
    pem: { type: 'boolean', description: 'print the PEM of every trusted root certificate instead (active and retiring)' },
    ...remoteOptions,
  },
  details: `--json prints the whole answer, certificates included. No private key ever leaves the server.\n${remoteDetails}`,
  async run(args, io) {
    const ca = await clientFromArgs(args, io).request<CaView>('GET', `${adminTenantPath(args)}/ca`);
    writeCa(args, io, ca, `trust domain ${ca.trust_domain}`);
    return EXIT.OK;
  },
};

/** `verity identity-source list --tenant T`: the token issuers a tenant trusts. */
import type { Command } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption } from '../client.js';
import { EXIT } from '../errors.js';
import { show, writeResult, writeTable } from '../output.js';

/** The fields the table shows; the rest is in `--json`. */
interface SourceSummary {
  id?: string;
  issuer?: string;
  keys?: { kind?: string; jwksUri?: string };
  audiences?: string[];
  claims?: { principalType?: string };
}

export const identitySourceList: Command = {
  name: 'identity-source list',
  summary: "List a tenant's identity sources",
  usage: '--tenant T',
  arguments: [],
  options: { ...tenantOption, ...remoteOptions },
  details: remoteDetails,
  async run(args, io) {
    const answer = await clientFromArgs(args, io).request<{ sources: SourceSummary[] }>('GET', `${adminTenantPath(args)}/identity-sources`);
    writeResult(args, io, answer, () =>
      writeTable(
        io.stdout,
        answer.sources,
        [
          { header: 'ID', cell: (s) => show(s.id) },
          { header: 'ISSUER', cell: (s) => show(s.issuer) },
          { header: 'KEYS', cell: (s) => (s.keys?.kind === 'jwks' ? `jwks ${show(s.keys.jwksUri)}` : show(s.keys?.kind)) },
          { header: 'AUDIENCES', cell: (s) => (s.audiences ?? []).join(',') || '-' },
          { header: 'PRINCIPAL', cell: (s) => show(s.claims?.principalType) },
        ],
        'no identity sources',
      ),
    );
    return EXIT.OK;
  },
};

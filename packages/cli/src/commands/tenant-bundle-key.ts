/** `verity tenant bundle-key ID`: the thumbprints of the keys a tenant's policy bundles are signed with, to pin in local-mode PEPs. */
import type { Command } from '../command.js';
import { clientFromArgs, remoteDetails, remoteOptions } from '../client.js';
import { EXIT } from '../errors.js';
import { writeLines, writeResult } from '../output.js';

export const tenantBundleKey: Command = {
  name: 'tenant bundle-key',
  summary: "Print the thumbprints of a tenant's bundle keys, to pin in local-mode PEPs",
  usage: 'ID',
  arguments: ['ID'],
  options: { ...remoteOptions },
  details: [
    'Prints one RFC 7638 SHA-256 thumbprint per line. Give it to a PEP in local mode as',
    '`bundleKeyThumbprints` (createLocalDecisionSource): the PEP then accepts only bundles signed',
    'by that key, whatever key the bundle channel serves. With --json, prints the keys (a JWKS',
    'document, usable as `bundleKeys`) and the thumbprints. Needs a credential that may read the',
    "tenant's bundle: a platform-admin, the tenant's policy-author, or its pep-local credential.",
    'Read it over a channel you trust (TLS to the admin API), not the one PEPs fetch bundles on.',
    '',
    remoteDetails,
  ].join('\n'),
  async run(args, io) {
    const id = args.positionals[0] ?? '';
    const answer = await clientFromArgs(args, io).request<{ keys: unknown[]; thumbprints: string[] }>('GET', `/tenants/${encodeURIComponent(id)}/bundle/keys`);
    writeResult(args, io, answer, () => writeLines(io.stdout, ...answer.thumbprints));
    return EXIT.OK;
  },
};

/** `verity ca rotate --tenant T`: a new root, intermediate and JWT-SVID key for a tenant; the old ones retire. */
import type { Command } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption } from '../client.js';
import { EXIT } from '../errors.js';
import { writeCa, type CaView } from './ca-show.js';

export const caRotate: Command = {
  name: 'ca rotate',
  summary: "Rotate a tenant's workload CA (new authority active, the old one retiring)",
  usage: '--tenant T [--pem]',
  arguments: [],
  options: {
    ...tenantOption,
    pem: { type: 'boolean', description: 'print the PEM of every trusted root certificate after the rotation' },
    ...remoteOptions,
  },
  details: [
    'New SVIDs are signed by the new authority at once. The retiring root and JWT-SVID key stay in',
    "the trust bundle until every SVID they signed has expired, so workloads rotate without a break;",
    'PEPs following the change feed fetch the new bundle.',
    remoteDetails,
  ].join('\n'),
  async run(args, io) {
    const ca = await clientFromArgs(args, io).request<CaView>('POST', `${adminTenantPath(args)}/ca/rotate`);
    const active = ca.authorities.find((a) => a.state === 'active');
    writeCa(args, io, ca, `rotated the CA of trust domain ${ca.trust_domain}${active ? `: authority ${active.id} is active` : ''}`);
    return EXIT.OK;
  },
};

/** `verity workload register --tenant T --spiffe-id ID …`: register a workload so it can attest and get SVIDs. */
import { parsePositiveInt } from '../arguments.js';
import type { Command } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption } from '../client.js';
import { EXIT, usageError } from '../errors.js';
import { writeLines, writeResult } from '../output.js';
import type { WorkloadView } from './workload-list.js';

const ATTESTORS = ['join_token', 'k8s_psat'];

/** `type:value`, both parts non-empty (e.g. `k8s:ns:payments`, `k8s:sa:api`). */
function selectorsOf(value: unknown): string[] {
  const selectors = Array.isArray(value) ? (value as string[]) : typeof value === 'string' ? [value] : [];
  for (const selector of selectors) {
    const colon = selector.indexOf(':');
    if (colon <= 0 || colon === selector.length - 1) throw usageError(`--selector must be type:value, got '${selector}'`);
  }
  return selectors;
}

export const workloadRegister: Command = {
  name: 'workload register',
  summary: 'Register a workload (a SPIFFE id) in a tenant',
  usage: '--tenant T --spiffe-id ID [--selector TYPE:VALUE]… [--attestor join_token|k8s_psat] [--x509-ttl S] [--jwt-ttl S]',
  arguments: [],
  options: {
    ...tenantOption,
    'spiffe-id': { type: 'string', valueName: 'ID', description: "the workload's SPIFFE id, in the tenant's trust domain (required)" },
    selector: { type: 'string', valueName: 'TYPE:VALUE', multiple: true, description: 'a selector the attestor must prove, e.g. k8s:ns:payments' },
    attestor: { type: 'string', valueName: 'KIND', description: 'how the workload proves itself: join_token (default) or k8s_psat' },
    'x509-ttl': { type: 'string', valueName: 'S', description: 'X.509-SVID lifetime in seconds (default 3600, at most 86400)' },
    'jwt-ttl': { type: 'string', valueName: 'S', description: 'JWT-SVID lifetime in seconds (default 300, at most 3600)' },
    ...remoteOptions,
  },
  details: [
    'The SPIFFE id must be in the trust domain of the tenant (its trust_domain setting, else the',
    "server's --trust-domain). A join_token workload then needs a token: `verity workload join-token`.",
    'Exits 3 when the id or a value is refused, and when the id is already registered.',
    remoteDetails,
  ].join('\n'),
  async run(args, io) {
    const spiffeId = args.values['spiffe-id'];
    if (typeof spiffeId !== 'string' || spiffeId === '') throw usageError('--spiffe-id is required');
    const attestor = args.values['attestor'];
    if (attestor !== undefined && !ATTESTORS.includes(attestor as string)) throw usageError('--attestor must be join_token or k8s_psat');
    const x509Ttl = args.values['x509-ttl'];
    const jwtTtl = args.values['jwt-ttl'];
    const selectors = selectorsOf(args.values['selector']);
    const body = {
      spiffe_id: spiffeId,
      ...(selectors.length > 0 ? { selectors } : {}),
      ...(typeof attestor === 'string' ? { attestor } : {}),
      ...(typeof x509Ttl === 'string' ? { x509_ttl_sec: parsePositiveInt(x509Ttl, '--x509-ttl') } : {}),
      ...(typeof jwtTtl === 'string' ? { jwt_ttl_sec: parsePositiveInt(jwtTtl, '--jwt-ttl') } : {}),
    };
    const workload = await clientFromArgs(args, io).request<WorkloadView>('POST', `${adminTenantPath(args)}/workloads`, { body });
    writeResult(args, io, workload, () => writeLines(io.stdout, `registered workload ${workload.id} (${workload.spiffe_id}, attestor ${workload.attestor})`));
    return EXIT.OK;
  },
};

/** `verity istio import FILE`: Istio AuthorizationPolicy YAML to Cedar, offline, checked with the local engine. */
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { buildPolicyStoreContent } from '@verity/core';
import type { IstioImportResult, IstioPeerAuthentication } from '@verity/workload';
import type { Command, CommandIo, ParsedArgs } from '../command.js';
import { EXIT, withSources } from '../errors.js';
import { localEngine } from '../local-store.js';
import { writeJson, writeLines, wantsJson } from '../output.js';
import { readStdin } from '../token-service.js';

const POLICY_FILE = 'istio.cedar';

function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Builds the translation into a policy-store content, as `policy push` would (ids, limits,
 * strict validation against the generated schema): a translation Verity would refuse is
 * reported here, never written.
 */
async function checkWithEngine(result: IstioImportResult): Promise<string[]> {
  const schema = result.schema === undefined ? {} : { schema: result.schema };
  const engine = await localEngine();
  const content = await withSources({ [POLICY_FILE]: result.policies }, () => buildPolicyStoreContent(engine, { files: { [POLICY_FILE]: result.policies }, ...schema }));
  if (result.auditPolicies !== '') {
    await withSources({ 'istio-audit.cedar': result.auditPolicies }, () => buildPolicyStoreContent(engine, { files: { 'istio-audit.cedar': result.auditPolicies }, ...schema }));
  }
  return Object.keys(content.policies);
}

function describeMtls(peer: IstioPeerAuthentication): string {
  const selector = peer.selector ? ` (${Object.entries(peer.selector).map(([k, v]) => `${k}=${v}`).join(',')})` : '';
  const ports = peer.portLevelMtls ? `; ports ${Object.entries(peer.portLevelMtls).map(([port, mode]) => `${port}: ${mode}`).join(', ')}` : '';
  return `mTLS ${peer.namespace}/${peer.name}${selector}: ${peer.mode}${ports}`;
}

async function writeOutputs(args: ParsedArgs, io: CommandIo, result: IstioImportResult): Promise<string[]> {
  const written: string[] = [];
  const write = async (flag: string, text: string, what: string) => {
    const file = stringFlag(args, flag);
    if (file === undefined) return;
    await writeFile(resolve(io.cwd, file), text);
    written.push(`${what} written to ${file}`);
  };
  await write('out', result.policies, 'policies');
  if (result.schema !== undefined) await write('schema-out', result.schema, 'schema');
  else if (stringFlag(args, 'schema-out') !== undefined) written.push('no schema written (the policies read token claims)');
  if (result.auditPolicies !== '') await write('audit-out', result.auditPolicies, 'AUDIT policies (observe-only)');
  return written;
}

export const istioImport: Command = {
  name: 'istio import',
  summary: 'Translate Istio AuthorizationPolicy YAML into Cedar policies (offline)',
  usage: 'FILE|- [--trust-domain TD] [--root-namespace NS] [--implicit-allow] [--out FILE] [--schema-out FILE] [--audit-out FILE]',
  arguments: ['FILE'],
  options: {
    'trust-domain': { type: 'string', valueName: 'TD', description: "the tenant's SPIFFE trust domain; Istio's cluster.local principals are read in it (default cluster.local)" },
    'root-namespace': { type: 'string', valueName: 'NS', description: "Istio's root namespace, whose policies apply mesh-wide (default istio-system)" },
    'implicit-allow': { type: 'boolean', description: "also allow requests to workloads no ALLOW policy selects, as Istio does (default: Verity's deny)" },
    out: { type: 'string', short: 'o', valueName: 'FILE', description: 'write the Cedar policies to FILE instead of stdout' },
    'schema-out': { type: 'string', valueName: 'FILE', description: 'write a Cedar schema for the vocabulary the policies use' },
    'audit-out': { type: 'string', valueName: 'FILE', description: 'write the observe-only policies of AUDIT rules' },
  },
  details: [
    "Reads FILE ('-': standard input; several YAML documents and kind: List are fine) and prints Cedar:",
    'ALLOW rules become permits, DENY rules forbids, each @id("istio:<ns>/<name>/rule<i>"). No server',
    "is asked; the result is checked with the local Cedar engine as `policy push` would check it.",
    'Requests must carry the vocabulary: action = HTTP method, context.caller = the peer SPIFFE id,',
    'context.path, context.callee = {namespace, labels} of the protected workload (see',
    'docs/workload-identity.md, "Istio interop"). What the vocabulary cannot express (ipBlocks, hosts,',
    'ports, headers) is reported on stderr and fails closed: ALLOW rules allow less, DENY rules deny',
    'more; CUSTOM and dry-run policies are skipped. PeerAuthentication modes are reported on stderr',
    '(--json: peerAuthentication). Exits 3 on invalid YAML or policy shape.',
  ].join('\n'),
  async run(args, io) {
    // Loaded here, not at the top: every other `verity` command starts without X.509, undici and YAML.
    const { importIstioPolicies, MAX_ISTIO_YAML_LENGTH } = await import('@verity/workload');
    const file = args.positionals[0] ?? '';
    const text = file === '-' ? await readStdin(io, MAX_ISTIO_YAML_LENGTH) : await readFile(resolve(io.cwd, file), 'utf8');
    const trustDomain = stringFlag(args, 'trust-domain');
    const rootNamespace = stringFlag(args, 'root-namespace');
    const result = importIstioPolicies(text, {
      ...(trustDomain === undefined ? {} : { trustDomain }),
      ...(rootNamespace === undefined ? {} : { rootNamespace }),
      implicitAllow: args.values['implicit-allow'] === true,
    });
    const ids = await checkWithEngine(result);
    const written = await writeOutputs(args, io, result);
    if (wantsJson(args)) {
      writeJson(io.stdout, { ...result, policyIds: ids });
      return EXIT.OK;
    }
    if (stringFlag(args, 'out') === undefined) io.stdout.write(result.policies);
    // stdout carries the Cedar unless it went to a file.
    const notes = stringFlag(args, 'out') === undefined ? io.stderr : io.stdout;
    writeLines(notes, `${ids.length} Cedar ${ids.length === 1 ? 'policy' : 'policies'} from Istio`, ...written, ...result.peerAuthentication.map(describeMtls));
    writeLines(io.stderr, ...result.warnings.map((warning) => `warning: ${warning}`));
    return EXIT.OK;
  },
};

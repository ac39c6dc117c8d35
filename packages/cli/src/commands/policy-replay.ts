/**
 * `verity policy replay --tenant T (DIR | --version N) [--since 24h]`: the tenant's recorded
 * decisions decided again on a candidate (a folder, or a stored version not yet active), listing
 * every decision it would flip, before `verity policy activate`.
 */
import { resolve } from 'node:path';
import type { ReplayAnswer, ReplayFlip, ReplayReport } from '@verity/server';
import { parsePositiveInt } from '../arguments.js';
import type { Command, CommandIo, ParsedArgs } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption } from '../client.js';
import { EXIT, usageError, withSources } from '../errors.js';
import { writeLines, writeResult } from '../output.js';
import { readPolicyFolder } from '../policy-folder.js';

/** The replay options `policy replay` and `policy diff --replay` share. */
export const replayWindowOptions = {
  since: { type: 'string', valueName: 'WHEN', description: 'decisions recorded since: a duration back from now (90s, 30m, 24h, 7d) or an ISO-8601 time (default 24h)' },
  'replay-limit': { type: 'string', valueName: 'N', description: 'read at most N recorded decisions (default 10000, at most 100000)' },
} as const;

/** Ask the server to replay: the body's candidate (and baseline) plus the window options. */
export async function requestReplay(args: ParsedArgs, io: CommandIo, body: Record<string, unknown>, sources: Readonly<Record<string, string>> = {}): Promise<ReplayReport> {
  const since = (args.values['since'] as string | undefined) ?? '24h';
  const limit = args.values['replay-limit'] === undefined ? undefined : parsePositiveInt(args.values['replay-limit'] as string, '--replay-limit');
  const client = clientFromArgs(args, io);
  return withSources(sources, () => client.request<ReplayReport>('POST', `${adminTenantPath(args)}/policies/replay`, { body: { ...body, since, ...(limit === undefined ? {} : { limit }) } }));
}

function answerText(answer: ReplayAnswer): string {
  if (answer.error !== undefined) return `deny (refused: ${answer.error})`;
  return `${answer.decision} (${answer.reasons.length > 0 ? answer.reasons.join(', ') : 'no policy applied'})`;
}

/** The report as text: a summary line, then one block per flip. */
export function replayLines(report: ReplayReport, candidateLabel: string): string[] {
  const lines = [
    `replayed ${report.replayed} of ${report.examined} decisions recorded since ${report.since}` +
      (report.truncated ? ' (stopped at the limit: more were recorded)' : '') +
      `: ${report.flipped} would flip` +
      (report.unreproducible > 0 ? `; ${report.unreproducible} no longer reproduce (entities changed since)` : '') +
      (report.skipped > 0 ? `; ${report.skipped} skipped (no recorded input)` : ''),
  ];
  for (const flip of report.flips) lines.push(...flipLines(flip, candidateLabel));
  if (report.flips.length < report.flipped) lines.push(`… and ${report.flipped - report.flips.length} more`);
  return lines;
}

function flipLines(flip: ReplayFlip, candidateLabel: string): string[] {
  const from = flip.baseline === undefined ? `recorded (version ${flip.recorded.policyVersion}): ${flip.recorded.decision} (${flip.recorded.reasons.join(', ') || 'no policy applied'})` : `baseline: ${answerText(flip.baseline)}`;
  return [`~ ${flip.time} ${flip.principal} ${flip.action} ${flip.resource}${flip.tier === null ? '' : ` [${flip.tier}]`}`, `    ${from}`, `    ${candidateLabel}: ${answerText(flip.candidate)}`];
}

/** Exit 0; with --exit-code, 1 when a decision would flip. */
export const policyReplay: Command = {
  name: 'policy replay',
  summary: 'Decide recorded decisions again on a candidate policy version and list those that flip',
  usage: '--tenant T (DIR | --version N) [--since 24h|ISO-TIME] [--replay-limit N] [--exit-code]',
  arguments: [],
  optionalArguments: ['DIR'],
  options: {
    ...tenantOption,
    version: { type: 'string', valueName: 'N', description: 'replay a stored version (pushed with --no-activate) instead of a folder' },
    ...replayWindowOptions,
    'exit-code': { type: 'boolean', description: 'exit 1 when a decision would flip, for CI' },
    ...remoteOptions,
  },
  details: [
    "Each decision the tenant's audit recorded since --since is decided again on the candidate",
    '(a policy-store folder, sent but not stored, or a stored version), from the input the record',
    'kept: its context, the entities the request described, its risk. Entities come from the',
    'store as they are now, so a decision the recording version no longer reproduces is counted',
    'apart, never reported as a flip. Nothing is activated or audited. Needs policy.test and',
    'audit.read on the tenant (a policy author has both).',
    remoteDetails,
  ].join('\n'),
  async run(args, io) {
    const dir = args.positionals[0];
    const versionText = args.values['version'] as string | undefined;
    if ((dir === undefined) === (versionText === undefined)) throw usageError('give the candidate: a folder DIR or --version N (one of them)');
    let report: ReplayReport;
    let label: string;
    if (versionText !== undefined) {
      const version = parsePositiveInt(versionText, '--version');
      report = await requestReplay(args, io, { version });
      label = `version ${version}`;
    } else {
      const folder = await withSources({}, () => readPolicyFolder(resolve(io.cwd, dir ?? '')));
      const candidate = { files: folder.files, ...(folder.schema === undefined ? {} : { schema: folder.schema }), validationMode: folder.validationMode, links: folder.links };
      report = await requestReplay(args, io, { candidate }, { ...folder.files, ...(folder.schema === undefined ? {} : { 'schema.cedarschema': folder.schema }) });
      label = dir ?? 'candidate';
    }
    writeResult(args, io, report, () => writeLines(io.stdout, ...replayLines(report, label)));
    return args.values['exit-code'] === true && report.flipped > 0 ? EXIT.CHECK_FAILED : EXIT.OK;
  },
};

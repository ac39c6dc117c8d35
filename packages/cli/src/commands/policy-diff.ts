/** `verity policy diff --tenant T A B`: what changed between two stored versions, by policy id. */
import type { Command } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption } from '../client.js';
import { parsePositiveInt } from '../arguments.js';
import { EXIT } from '../errors.js';
import { writeLines, writeResult } from '../output.js';

interface IdDiff {
  added?: string[];
  removed?: string[];
  changed?: string[];
}

interface DiffAnswer {
  from: number;
  to: number;
  policies?: IdDiff;
  templates?: IdDiff;
  links?: IdDiff;
  schemaChanged?: boolean;
}

function versionArg(text: string, what: string): string {
  if (text === 'active') return text;
  return String(parsePositiveInt(text, what));
}

function diffLines(kind: string, diff: IdDiff | undefined): string[] {
  return [
    ...(diff?.added ?? []).map((id) => `+ ${kind} ${id}`),
    ...(diff?.removed ?? []).map((id) => `- ${kind} ${id}`),
    ...(diff?.changed ?? []).map((id) => `~ ${kind} ${id}`),
  ];
}

export const policyDiff: Command = {
  name: 'policy diff',
  summary: 'Show what changed between two policy versions',
  usage: '--tenant T A B',
  arguments: ['A', 'B'],
  options: { ...tenantOption, ...remoteOptions },
  details: `A and B are version numbers or 'active'. Lines read + added, - removed, ~ changed.\n${remoteDetails}`,
  async run(args, io) {
    const from = versionArg(args.positionals[0] ?? '', 'A');
    const to = versionArg(args.positionals[1] ?? '', 'B');
    const path = `${adminTenantPath(args)}/policies/diff`;
    const diff = await clientFromArgs(args, io).request<DiffAnswer>('GET', path, { query: { from, to } });
    writeResult(args, io, diff, () => {
      const lines = [...diffLines('policy', diff.policies), ...diffLines('template', diff.templates), ...diffLines('link', diff.links)];
      if (diff.schemaChanged) lines.push('~ schema');
      writeLines(io.stdout, `version ${diff.from} -> ${diff.to}`, ...(lines.length > 0 ? lines : ['no changes']));
    });
    return EXIT.OK;
  },
};

/** `verity authorize`: ask the server for one AuthZEN decision from the command line. */
import type { AuthzenEvaluationRequest, ExplainedPermit, PolicyExplanation } from '@verity/core';
import { parseJsonObjectFlag, parseUidFlag } from '../arguments.js';
import type { Command } from '../command.js';
import { clientFromArgs, remoteDetails, remoteOptions, tenantOption, tenantSegment } from '../client.js';
import { EXIT, usageError } from '../errors.js';
import { show, writeLines, writeResult } from '../output.js';

/** The AuthZEN answer; Verity puts its decision id and explanation in `context`. */
interface EvaluationAnswer {
  decision: boolean;
  context?: {
    id?: string;
    reason_admin?: { policy_version?: number; determining_policies?: string[]; errors?: Array<{ policyId?: string; message?: string }> };
  };
}

/** What POST /admin/v1/tenants/T/explain answers (docs/explain.md). */
interface ExplainAnswer {
  decision: 'allow' | 'deny';
  determining: string[];
  errors: Array<{ policyId: string; message: string }>;
  policyVersion: number;
  explanation: PolicyExplanation;
}

const reasonLines = (p: { reasonUser?: string; reasonAdmin?: string }, indent: string): string[] => [
  ...(p.reasonUser === undefined ? [] : [`${indent}reason (user):  ${p.reasonUser}`]),
  ...(p.reasonAdmin === undefined ? [] : [`${indent}reason (admin): ${p.reasonAdmin}`]),
];

/** One permit of an explanation: why it did (not) apply, one line per scope part or clause. */
function permitLines(p: ExplainedPermit): string[] {
  const failing = p.failed.length + p.errored.length;
  const summary = p.applies ? 'applies' : p.unmatchedScope.length > 0 ? `scope did not match: ${p.unmatchedScope.join(', ')}` : `${failing} of ${p.clauses} clause(s) did not hold`;
  return [
    `  ${p.policyId}  ${summary}`,
    ...p.failed.map((c) => `    ${c.kind} #${c.index} ${c.kind === 'when' ? 'was false' : 'was true'}: ${c.text}`),
    ...p.errored.map((c) => `    ${c.kind} #${c.index} errored: ${c.text} (${c.message ?? ''})`),
    ...reasonLines(p, '    '),
  ];
}

/** The explain answer in readable form. */
function explanationLines(answer: ExplainAnswer): string[] {
  const { explanation } = answer;
  const lines = [answer.decision, `policy version: ${answer.policyVersion}`];
  if (answer.decision === 'allow') {
    lines.push('determined by:', ...explanation.permits.flatMap(permitLines));
  } else {
    lines.push(explanation.permits.length === 0 ? 'closest permits: none' : 'closest permits:', ...explanation.permits.flatMap(permitLines));
    if (explanation.morePermits > 0) lines.push(`  (${explanation.morePermits} more permit(s), further away)`);
    lines.push(explanation.forbids.length === 0 ? 'forbids that applied: none' : 'forbids that applied:');
    for (const f of explanation.forbids) lines.push(`  ${f.policyId}`, ...reasonLines(f, '    '));
  }
  for (const e of answer.errors) lines.push(`error:          ${e.policyId}: ${e.message}`);
  for (const note of explanation.notes) lines.push(`note: ${note}`);
  return lines;
}

export const authorize: Command = {
  name: 'authorize',
  summary: 'Ask for one decision (exit 0 allow, 1 deny)',
  usage: '--tenant T --subject TYPE:ID --action NAME --resource TYPE:ID [--context JSON] [--explain]',
  arguments: [],
  options: {
    ...tenantOption,
    subject: { type: 'string', short: 's', valueName: 'TYPE:ID', description: 'the subject, e.g. User:alice' },
    action: { type: 'string', short: 'a', valueName: 'NAME', description: 'the action name, e.g. read' },
    resource: { type: 'string', short: 'r', valueName: 'TYPE:ID', description: 'the resource, e.g. Document:d1' },
    context: { type: 'string', short: 'c', valueName: 'JSON', description: 'request context as a JSON object' },
    explain: { type: 'boolean', description: 'say why: the closest permits of a deny, the determining permits of an allow (an admin credential; not audited as a decision)' },
    ...remoteOptions,
  },
  details: [
    "Sends an AuthZEN evaluation to /tenants/T/access/v1/evaluation. Ids containing ':' can be",
    `quoted the Cedar way: --resource 'Doc::"urn:x:1"'.`,
    'With --explain it asks POST /admin/v1/tenants/T/explain instead (action policy.test: a',
    "platform admin or the tenant's policy author): the decision the PDP would make on the active",
    'version, not audited as a decision, and why — for a deny the three closest permits (the scope',
    'parts that did not match, the when/unless clauses that did not hold) and the forbids that',
    'applied, for an allow the determining permits, with their @reason_user/@reason_admin texts',
    '(docs/explain.md). --json prints that answer.',
    remoteDetails,
  ].join('\n'),
  async run(args, io) {
    const tenant = tenantSegment(args);
    const subject = parseUidFlag(args.values['subject'] as string | undefined, 'subject');
    const resource = parseUidFlag(args.values['resource'] as string | undefined, 'resource');
    const action = args.values['action'];
    if (typeof action !== 'string' || action === '') throw usageError('--action is required');
    const request: AuthzenEvaluationRequest = { subject, action: { name: action }, resource };
    const context = args.values['context'];
    if (typeof context === 'string') request.context = parseJsonObjectFlag(context, 'context');
    if (args.values['explain'] === true) {
      const explained = await clientFromArgs(args, io).request<ExplainAnswer>('POST', `/admin/v1/tenants/${tenant}/explain`, { body: request });
      writeResult(args, io, explained, () => writeLines(io.stdout, ...explanationLines(explained)));
      return explained.decision === 'allow' ? EXIT.OK : EXIT.CHECK_FAILED;
    }
    const path = `/tenants/${tenant}/access/v1/evaluation`;
    const answer = await clientFromArgs(args, io).request<EvaluationAnswer>('POST', path, { body: request });
    const allowed = answer.decision === true;
    writeResult(args, io, answer, () => {
      const reason = answer.context?.reason_admin;
      writeLines(io.stdout, allowed ? 'allow' : 'deny', `decision id:    ${show(answer.context?.id)}`, `policy version: ${show(reason?.policy_version)}`);
      const reasons = reason?.determining_policies ?? [];
      if (reasons.length > 0) writeLines(io.stdout, `determined by:  ${reasons.join(', ')}`);
      for (const e of reason?.errors ?? []) writeLines(io.stdout, `error:          ${e.policyId ?? '-'}: ${e.message ?? ''}`);
    });
    return allowed ? EXIT.OK : EXIT.CHECK_FAILED;
  },
};

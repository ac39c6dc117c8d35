/** `verity authorize`: ask the server for one AuthZEN decision from the command line. */
import type { AuthzenEvaluationRequest } from '@verity/core';
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

export const authorize: Command = {
  name: 'authorize',
  summary: 'Ask for one decision (exit 0 allow, 1 deny)',
  usage: '--tenant T --subject TYPE:ID --action NAME --resource TYPE:ID [--context JSON]',
  arguments: [],
  options: {
    ...tenantOption,
    subject: { type: 'string', short: 's', valueName: 'TYPE:ID', description: 'the subject, e.g. User:alice' },
    action: { type: 'string', short: 'a', valueName: 'NAME', description: 'the action name, e.g. read' },
    resource: { type: 'string', short: 'r', valueName: 'TYPE:ID', description: 'the resource, e.g. Document:d1' },
    context: { type: 'string', short: 'c', valueName: 'JSON', description: 'request context as a JSON object' },
    ...remoteOptions,
  },
  details: `Sends an AuthZEN evaluation to /tenants/T/access/v1/evaluation. Ids containing ':' can be\nquoted the Cedar way: --resource 'Doc::"urn:x:1"'.\n${remoteDetails}`,
  async run(args, io) {
    const tenant = tenantSegment(args);
    const subject = parseUidFlag(args.values['subject'] as string | undefined, 'subject');
    const resource = parseUidFlag(args.values['resource'] as string | undefined, 'resource');
    const action = args.values['action'];
    if (typeof action !== 'string' || action === '') throw usageError('--action is required');
    const request: AuthzenEvaluationRequest = { subject, action: { name: action }, resource };
    const context = args.values['context'];
    if (typeof context === 'string') request.context = parseJsonObjectFlag(context, 'context');
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

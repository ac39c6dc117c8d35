/**
 * The raw cedar-wasm baseline: the demo policies and, per request of the mix, exactly the
 * Cedar request and entity slice Verity hands the engine, built once outside the timed loop.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { formatEntityUid, mapEvaluationRequest, resolveWithRequestEntities, sliceEntities, type Entity, type EntityUid } from '@verity/core';
import type { MixEntry } from './requests.js';

export interface CedarBaseline {
  policies: cedar.PolicySet;
  /** One isAuthorized call per mix entry (policies parsed on every call). */
  calls: cedar.AuthorizationCall[];
  /** The same calls against a preparsed policy set. */
  statefulCalls: cedar.StatefulAuthorizationCall[];
}

/** Every `*.cedar` file of `folder`, split into single policies keyed `file.N`. */
async function readStaticPolicies(folder: string): Promise<Record<string, string>> {
  const files = (await readdir(folder)).filter((name) => name.endsWith('.cedar')).sort();
  const policies: Record<string, string> = {};
  for (const file of files) {
    const parts = cedar.policySetTextToParts(await readFile(join(folder, file), 'utf8'));
    if (parts.type !== 'success') throw new Error(`${file}: ${parts.errors.map((e) => e.message).join('; ')}`);
    parts.policies.forEach((text, i) => (policies[`${file.replace(/\.cedar$/, '')}.${i}`] = text));
  }
  return policies;
}

export async function buildCedarBaseline(folder: string, mix: readonly MixEntry[], preparsedId: string): Promise<CedarBaseline> {
  const policies: cedar.PolicySet = { staticPolicies: await readStaticPolicies(folder) };
  const stored = JSON.parse(await readFile(join(folder, 'entities.json'), 'utf8')) as Entity[];
  const byKey = new Map(stored.map((e) => [formatEntityUid(e.uid), e]));
  const lookup = (uids: EntityUid[]) => uids.flatMap((uid) => byKey.get(formatEntityUid(uid)) ?? []);

  const prepared = cedar.preparsePolicySet(preparsedId, policies);
  if (prepared.type !== 'success') throw new Error(`preparse: ${prepared.errors.map((e) => e.message).join('; ')}`);

  const calls: cedar.AuthorizationCall[] = [];
  const statefulCalls: cedar.StatefulAuthorizationCall[] = [];
  for (const entry of mix) {
    // The demo tenant has default settings: identity type mapping, `Action` actions.
    const mapped = mapEvaluationRequest(entry.request, {});
    const { principal, action, resource, context } = mapped.cedar;
    const slice = await sliceEntities([principal, action, resource], resolveWithRequestEntities({ overlays: mapped.overlays, provided: [] }, lookup));
    const common = { principal, action, resource, context: context as cedar.Context, entities: slice.entities as cedar.EntityJson[] };
    calls.push({ ...common, policies });
    statefulCalls.push({ ...common, preparsedPolicySetId: preparsedId });
  }
  return { policies, calls, statefulCalls };
}

/** Decide one call; a failed evaluation is a broken benchmark, not a deny. */
export function decisionOf(answer: cedar.AuthorizationAnswer): 'allow' | 'deny' {
  if (answer.type !== 'success') throw new Error(answer.errors.map((e) => e.message).join('; '));
  return answer.response.decision;
}

/**
 * AuthZEN search (subject, resource, action): enumerate candidates of the asked type from the
 * tenant's entity store (or the actions its schema/policies name), decide each, return the
 * permitted ones in pages. Transitive membership comes for free: each candidate is a full
 * Cedar decision over its ancestors.
 */
import { hashCanonical, mapEntityType, MAX_SEARCH_CANDIDATES_PER_PAGE, SEARCH_CANDIDATE_BATCH, SEARCH_PAGE_BUDGET_MS, unmapEntityType, VerityError, type AuthzenEvaluationRequest, type AuthzenSearchRequest, type DecisionMeta, withEntry } from '@verity/core';
import type { Store } from '@verity/store';
import type { DecisionService } from './decision-service.js';
import type { PolicyService } from './policy-service.js';

export interface SearchResult {
  results: Array<{ type: string; id: string } | { name: string }>;
  page: { next_token: string };
}

export interface SearchService {
  search(tenant: string, request: AuthzenSearchRequest, meta: DecisionMeta): Promise<SearchResult>;
}

interface PageToken {
  /** Index of the next candidate to evaluate. */
  o: number;
  /** Binds the token to the request and policy version it was issued for. */
  h: string;
}

function encodeToken(token: PageToken): string {
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

function decodeToken(text: string, expectedHash: string): number {
  try {
    const token = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Partial<PageToken>;
    if (typeof token.o === 'number' && Number.isSafeInteger(token.o) && token.o >= 0 && token.h === expectedHash) return token.o;
  } catch {
    // Fall through: any undecodable token is the same error.
  }
  throw new VerityError('ERR_SEARCH_INVALID_TOKEN', 'page.next_token does not belong to this search (or the policy version changed)');
}

export function createSearchService(store: Store, policies: PolicyService, decisions: DecisionService): SearchService {
  return {
    async search(tenant, request, meta) {
      const active = await policies.active(tenant);
      const settings = active.tenant.settings;
      const { page } = request;
      // The token binds everything that defines the result set: the tenant, the request, its
      // page size and the policy version (AuthZEN §8: a token is only valid for the search it
      // came from).
      const requestHash = hashCanonical({ t: tenant, r: withEntry(request, 'page', { limit: page.limit }), v: active.version }).slice(0, 24);
      let index = page.token === undefined ? 0 : decodeToken(page.token, requestHash);

      // What every candidate's decision checks first, checked once: a search with no candidate
      // is refused (and audited) as its decisions would be. The searched side has no id yet.
      const asked: AuthzenEvaluationRequest = {
        subject: { type: request.subject.type, id: request.kind === 'subject' ? '' : (request.subject.id as string) },
        action: { name: request.kind === 'action' ? '' : (request.action as { name: string }).name },
        resource: { type: request.resource.type, id: request.kind === 'resource' ? '' : (request.resource.id as string) },
      };
      if (request.context !== undefined) asked.context = request.context;
      await decisions.screen(tenant, { kind: 'authzen', request: asked }, meta);

      const actionType = settings.actionType ?? 'Action';
      const candidates =
        request.kind === 'action'
          ? active.prepared.actions.filter((a) => a.type === actionType).map((a) => a.id).sort()
          : await store.entities.listIds(tenant, mapEntityType(request.kind === 'subject' ? request.subject.type : request.resource.type, settings));

      const results: SearchResult['results'] = [];
      const last = Math.min(candidates.length, index + MAX_SEARCH_CANDIDATES_PER_PAGE);
      const started = performance.now();
      const decideCandidate = async (candidate: string): Promise<SearchResult['results'][number] | undefined> => {
        const evaluation = {
          subject: withEntry(request.subject, 'id', request.kind === 'subject' ? candidate : (request.subject.id as string)) as AuthzenEvaluationRequest['subject'],
          action: request.kind === 'action' ? { name: candidate } : (request.action as { name: string }),
          resource: withEntry(request.resource, 'id', request.kind === 'resource' ? candidate : (request.resource.id as string)) as AuthzenEvaluationRequest['resource'],
          ...(request.context ? { context: request.context } : {}),
        };
        let decision;
        try {
          decision = await decisions.decide({ tenant, request: { kind: 'authzen', request: evaluation }, meta, audit: 'never' });
        } catch (error) {
          // A candidate past a decision limit is not listed: search answers only what a
          // decision would permit. Any other failure fails the search.
          if (error instanceof VerityError && error.code === 'ERR_DECISION_LIMIT') return undefined;
          throw error;
        }
        if (decision.decision !== 'allow') return undefined;
        if (request.kind === 'action') return { name: candidate };
        const uid = request.kind === 'subject' ? decision.principal : decision.resource;
        return { type: unmapEntityType(uid.type, settings), id: uid.id };
      };
      // Candidates are decided a batch at a time and taken in order; the page stops at its
      // limit, at the candidate cap, or when its time budget is spent (always after at least
      // one batch, so every page makes progress).
      while (index < last && results.length < page.limit) {
        const batch = candidates.slice(index, Math.min(last, index + SEARCH_CANDIDATE_BATCH)) as string[];
        const found = await Promise.all(batch.map(decideCandidate));
        for (const result of found) {
          index++;
          if (result === undefined) continue;
          results.push(result);
          if (results.length === page.limit) break;
        }
        if (performance.now() - started > SEARCH_PAGE_BUDGET_MS) break;
      }
      return { results, page: { next_token: index < candidates.length ? encodeToken({ o: index, h: requestHash }) : '' } };
    },
  };
}

/**
 * The oracle: cedar-wasm's own `isAuthorized`, called the way cedar-wasm's users call it —
 * the schema as Cedar text, the whole policy set, `validateRequest` as the tenant has it and
 * the tenant's COMPLETE entity set (never a slice). Values are fed exactly: integers beyond
 * ±2^53 stay `bigint` and are written digit for digit (cedar-wasm's glue serializes every
 * argument with `JSON.stringify`, which refuses `bigint`).
 */
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { stringify as stringifyLossless } from 'lossless-json';
import type { CedarValue, EntityUid } from '@verity/core';

// Same V8 guard as Verity's Cedar adapter: a hot JS caller of a Wasm function inlined by
// TurboFan can abort Node 20 when it deoptimizes during the call.
setFlagsFromString('--no-turbo-inline-js-wasm-calls');

/** What cedar-wasm answered: a decision with its diagnostics, or a refusal of the call. */
export type OracleAnswer =
  | { ok: true; decision: 'allow' | 'deny'; reasons: string[]; errors: string[] }
  | { ok: false; message: string };

/** The policy set as cedar-wasm takes it (text with generated ids `policy0…`, or by id). */
export interface OraclePolicySet {
  staticPolicies: string | Record<string, string>;
  templates?: Record<string, string>;
  templateLinks?: Array<{ templateId: string; newId: string; values: Record<string, EntityUid> }>;
}

export interface OracleCall {
  principal: EntityUid;
  action: EntityUid;
  resource: EntityUid;
  context: Record<string, CedarValue>;
  schema: string | undefined;
  validateRequest: boolean;
  policies: OraclePolicySet;
  /** Every entity of the tenant, exactly as imported. */
  entities: readonly unknown[];
}

const nativeStringify = JSON.stringify;
const exactStringify = function stringify(value: unknown, replacer?: unknown, space?: unknown): string {
  try {
    return nativeStringify(value, replacer as never, space as never);
  } catch (error) {
    if (!(error instanceof TypeError) || !/BigInt/i.test(error.message)) throw error;
    return stringifyLossless(value, replacer as never, space as never) as string;
  }
} as typeof JSON.stringify;

/** Run `fn` (synchronous) with a JSON.stringify that writes bigint digit for digit. */
function withExactJson<T>(fn: () => T): T {
  JSON.stringify = exactStringify;
  try {
    return fn();
  } finally {
    JSON.stringify = nativeStringify;
  }
}

const sortedUnique = (ids: Iterable<string>) => [...new Set(ids)].sort();

/** cedar-wasm's `isAuthorized` on one request. */
export function oracleIsAuthorized(call: OracleCall): OracleAnswer {
  const answer = withExactJson(() =>
    cedar.isAuthorized({
      principal: call.principal,
      action: call.action,
      resource: call.resource,
      context: call.context as never,
      ...(call.schema === undefined ? {} : { schema: call.schema, validateRequest: call.validateRequest }),
      policies: call.policies as never,
      entities: call.entities as never,
    }),
  );
  if (answer.type !== 'success') return { ok: false, message: answer.errors.map((e) => e.message).join('; ') };
  const { decision, diagnostics } = answer.response;
  return { ok: true, decision, reasons: sortedUnique(diagnostics.reason), errors: sortedUnique(diagnostics.errors.map((e) => e.policyId)) };
}

/**
 * The policies of a policy-set text in source order, with the id cedar-wasm gives each
 * (`policy<N>`, N counting from 0 in file order) and its `@id` annotation if any.
 * (`policySetTextToParts` returns the parts sorted by id, i.e. `policy10` before `policy2`.)
 */
export function policiesInSourceOrder(text: string): Array<{ cedarId: string; text: string; annotatedId: string | undefined }> {
  const parts = cedar.policySetTextToParts(text);
  if (parts.type !== 'success') throw new Error(`cedar-wasm cannot split the policy text: ${parts.errors.map((e) => e.message).join('; ')}`);
  if (parts.policy_templates.length > 0) throw new Error('templates in a policy-set text are not supported by the oracle');
  const n = parts.policies.length;
  const byId = Array.from({ length: n }, (_, i) => `policy${i}`).sort();
  const inOrder: Array<{ cedarId: string; text: string; annotatedId: string | undefined }> = new Array(n);
  byId.forEach((cedarId, k) => {
    const policyText = parts.policies[k] as string;
    const json = cedar.policyToJson(policyText);
    const annotatedId = json.type === 'success' ? (json.json.annotations?.id ?? undefined) : undefined;
    inOrder[Number(cedarId.slice('policy'.length))] = { cedarId, text: policyText, annotatedId: annotatedId ?? undefined };
  });
  return inOrder;
}

export const cedarVersion = (): string => cedar.getCedarVersion();

/** The store part of an oracle call, sent to the oracle threads once per store. */
export interface OracleStoreParts {
  schema: string | undefined;
  policies: OraclePolicySet;
  entities: readonly unknown[];
}

type Pending = { resolve: (answer: OracleAnswer) => void; reject: (error: Error) => void };

/**
 * cedar-wasm's isAuthorized on threads of its own (oracle-worker.mjs), round robin, so the
 * oracle runs beside Verity rather than on the event loop Verity's PDP and SDK share.
 */
export class OracleThreads {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, Pending>();
  private next = 0;

  constructor(count = 1) {
    this.workers = Array.from({ length: count }, () => {
      const worker = new Worker(new URL('./oracle-worker.mjs', import.meta.url));
      worker.on('message', (message: { id: number; answer?: OracleAnswer; crash?: string }) => {
        const waiting = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.answer) waiting?.resolve(message.answer);
        else waiting?.reject(new Error(`the oracle thread failed: ${message.crash}`));
      });
      worker.on('error', (error) => {
        for (const waiting of this.pending.values()) waiting.reject(error);
        this.pending.clear();
      });
      return worker;
    });
  }

  setStore(name: string, parts: OracleStoreParts): void {
    for (const worker of this.workers) worker.postMessage({ store: name, parts });
  }

  dropStore(name: string): void {
    for (const worker of this.workers) worker.postMessage({ store: name, drop: true });
  }

  ask(
    store: string,
    request: Pick<OracleCall, 'principal' | 'action' | 'resource' | 'context' | 'validateRequest'> & { overlay?: { on: 'principal' | 'resource'; attrs: Record<string, CedarValue> } | undefined },
  ): Promise<OracleAnswer> {
    const id = this.next++;
    const worker = this.workers[id % this.workers.length] as Worker;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const { principal, action, resource, context, validateRequest, overlay } = request;
      worker.postMessage({ id, call: { store, principal, action, resource, context, validateRequest, ...(overlay ? { overlay } : {}) } });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}

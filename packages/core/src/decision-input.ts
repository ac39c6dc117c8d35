/**
 * What a decision was made on besides the tenant's stored entities and its policies: the Cedar
 * context the engine saw, the entities the request itself described or added, and the risk
 * engine's `context.risk`. Every decision record carries it (the audit's `input`), so a
 * candidate policy version can be replayed against recorded decisions (`verity policy replay`)
 * through the same pipeline, with the same request, as the decision that was made.
 *
 * Recorded as the JSON text of a {@link DecisionInput}: text keeps a Long past 2^53 and any
 * string exactly (JSON escapes NUL and lone surrogates, so the text is always storable), and the
 * audit hash covers it as that text. Plain `JSON.stringify` order, not canonical: the text is
 * hashed as the string it is, so nothing needs its keys sorted, and sorting would cost every
 * decision about as much again.
 */
import { parseJson, stringifyJson } from './json.js';
import { MAX_VALUE_DEPTH } from './limits.js';
import { isPlainObject, isStorableText } from './wire-format.js';
import type { EntityOverlay } from './request-entities.js';
import type { CedarValue, Entity, EntityUid } from './types.js';

/** The longest input text recorded (UTF-16 code units); a longer one is recorded as omitted. */
export const MAX_DECISION_INPUT_CHARS = 16_384;

/** Version 1 of the recorded input. */
export interface RecordedDecisionInput {
  v: 1;
  /** The Cedar context as the engine saw it: the request's, with the token's claims merged over it (`context.risk` apart). */
  context: Record<string, CedarValue>;
  /** What the request said about its principal and resource (AuthZEN properties, a token's principal), laid over the stored entities. */
  overlays: EntityOverlay[];
  /** Entities the request added that the store did not hold (Cedar-native request-time entities). */
  provided: Entity[];
  /** `context.risk` as the risk engine set it; absent when the tenant's risk engine was off. */
  risk?: Record<string, CedarValue>;
}

/** An input that was not recorded because its text passed {@link MAX_DECISION_INPUT_CHARS}. */
export interface OmittedDecisionInput {
  v: 1;
  omitted: 'too-large';
  /** The length of the text that was not recorded (UTF-16 code units). */
  chars: number;
}

export type DecisionInput = RecordedDecisionInput | OmittedDecisionInput;

/** What {@link encodeDecisionInput} takes: the pipeline's mapped request and its risk context. */
export interface DecisionInputParts {
  context: Readonly<Record<string, CedarValue>>;
  overlays: readonly EntityOverlay[];
  provided: readonly Entity[];
  risk?: Readonly<Record<string, CedarValue>> | undefined;
}

/** The record's `input` text: JSON of the input, or of an omission past the bound. */
export function encodeDecisionInput(parts: DecisionInputParts): string {
  const input: Record<string, unknown> = { v: 1, context: parts.context, overlays: parts.overlays, provided: parts.provided };
  if (parts.risk !== undefined) input.risk = parts.risk;
  const text = stringifyJson(input);
  return text.length <= MAX_DECISION_INPUT_CHARS ? text : stringifyJson({ v: 1, omitted: 'too-large', chars: text.length } satisfies OmittedDecisionInput);
}

const isUid = (value: unknown): value is EntityUid => isPlainObject(value) && typeof value.type === 'string' && typeof value.id === 'string';

const isEntity = (value: unknown): boolean =>
  isPlainObject(value) && isUid(value.uid) && isPlainObject(value.attrs) && (value.parents === undefined || (Array.isArray(value.parents) && value.parents.every(isUid))) && (value.tags === undefined || isPlainObject(value.tags));

/** How deep the input's own structure goes above a value (input → overlays → overlay → attrs). */
const INPUT_FRAME_DEPTH = 4;

/**
 * Whether a parsed input holds only what a live request could: no deeper than MAX_VALUE_DEPTH
 * under its frame, and no text neither PostgreSQL nor UTF-8 (nor Cedar) can hold (a NUL, an
 * unpaired surrogate: the body parser refuses them in a request, but JSON escapes carry them
 * into a reported input). Walked without recursion: a reported input may nest thousands deep.
 */
function isHoldable(root: unknown): boolean {
  const stack: Array<[unknown, number]> = [[root, 0]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (typeof value === 'string') {
      if (!isStorableText(value)) return false;
    } else if (value !== null && typeof value === 'object') {
      if (depth > MAX_VALUE_DEPTH + INPUT_FRAME_DEPTH) return false;
      for (const [key, item] of Object.entries(value)) {
        if (!isStorableText(key)) return false;
        stack.push([item, depth + 1]);
      }
    }
  }
  return true;
}

/**
 * Read a record's `input` text back. Null when it is not one this code can replay: absent,
 * omitted, not JSON, or not of the shape {@link encodeDecisionInput} writes (a PEP-reported
 * record carries what the PEP sent), nested past MAX_VALUE_DEPTH, or holding text a request
 * could not (NUL, unpaired surrogates). The values inside are taken as Cedar values: the
 * pipeline checks them as it checks any request.
 */
export function parseDecisionInput(text: string | undefined): RecordedDecisionInput | null {
  if (text === undefined) return null;
  let value: unknown;
  try {
    value = parseJson(text);
  } catch {
    return null;
  }
  if (!isPlainObject(value) || value.v !== 1 || 'omitted' in value || !isHoldable(value)) return null;
  const { context, overlays, provided, risk } = value;
  if (!isPlainObject(context) || !Array.isArray(overlays) || !Array.isArray(provided)) return null;
  if (!overlays.every((o) => isPlainObject(o) && isUid(o.uid) && isPlainObject(o.attrs) && (o.parents === undefined || (Array.isArray(o.parents) && o.parents.every(isUid))))) return null;
  if (!provided.every(isEntity)) return null;
  if (risk !== undefined && !isPlainObject(risk)) return null;
  return value as unknown as RecordedDecisionInput;
}

/** Whether `text` is a record's `input` a PEP may report: bounded, JSON, version 1 (recorded or omitted). */
export function isDecisionInputText(text: unknown): text is string {
  if (typeof text !== 'string' || text.length > MAX_DECISION_INPUT_CHARS) return false;
  try {
    const value = parseJson(text);
    return isPlainObject(value) && value.v === 1;
  } catch {
    return false;
  }
}

/**
 * What policy annotations add to a deny's answer (issue 12, docs/continuous-verification.md):
 * the reasons a deny gives its user and its admin (AuthZEN `reason_user` / `reason_admin`), and
 * the stronger authentications that would lift it (step-up, RFC 9470). Read once per policy
 * version from Cedar's own JSON form of each policy, never from the text.
 */
import type { CedarPolicyJson } from './policy-analysis.js';
import type { TemplateLink } from './types.js';

/** The annotation names Verity reads (Cedar annotations, `@name("value")`). */
export const REASON_USER_ANNOTATION = 'reason_user';
export const REASON_ADMIN_ANNOTATION = 'reason_admin';
export const STEP_UP_ACR_ANNOTATION = 'step_up_acr';
export const STEP_UP_MAX_AGE_ANNOTATION = 'step_up_max_age';

/** At most this many distinct step-up levels are tried on one deny (each is one more evaluation). */
export const MAX_STEP_UP_LEVELS = 4;
/** The longest `@step_up_max_age` accepted, in seconds (one day). */
const MAX_STEP_UP_MAX_AGE_SEC = 86_400;
/** The longest annotation text kept (reasons, acr values), in characters: longer ones are cut. */
const MAX_ANNOTATION_TEXT = 500;

/** One authentication level a policy says would lift a deny: RFC 9470 §3 `acr_values` and `max_age` (seconds). */
export interface StepUpLevel {
  acr: string;
  maxAgeSec?: number;
}

/** The reason texts of one policy (its `@reason_user` / `@reason_admin`). */
export interface PolicyReasons {
  user?: string;
  admin?: string;
}

/** The annotations of one policy version that shape a deny's answer. */
export interface PolicyAnnotationFacts {
  /** Reason texts by policy id (a template's are its links'); policies without any are absent. */
  reasons: ReadonlyMap<string, PolicyReasons>;
  /**
   * The distinct step-up levels the version's policies name, in the order they are tried: by
   * the id of the first policy (or template) naming each, in code-point order. At most
   * {@link MAX_STEP_UP_LEVELS}: later ones are never tried.
   */
  stepUps: readonly StepUpLevel[];
}

/** An annotation's text, trimmed and bounded, or undefined when absent or empty. */
function textOf(annotations: Record<string, string | null> | undefined, name: string): string | undefined {
  const value = annotations?.[name];
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed.slice(0, MAX_ANNOTATION_TEXT);
}

const STEP_UP_ACR = /^[\x20\x21\x23-\x5b\x5d-\x7e]{1,500}$/;

/**
 * Whether `text` can be an `acr_values` of a step-up challenge: 1 to 500 printable ASCII
 * characters without `"` and `\`, so it travels unchanged inside the `WWW-Authenticate` quoted
 * string (RFC 9110 §5.6.4) that RFC 9470 §3 answers with (and can be stored in the audit).
 */
export function isStepUpAcr(text: unknown): text is string {
  return typeof text === 'string' && STEP_UP_ACR.test(text);
}

/**
 * The step-up level a policy names, or undefined. A `@step_up_acr` that is no challenge text
 * ({@link isStepUpAcr}), or a `@step_up_max_age` that is not a whole number of seconds from 0 to
 * 86400, drops the level (fail closed: no step-up hint, a plain deny).
 */
function stepUpOf(annotations: Record<string, string | null> | undefined): StepUpLevel | undefined {
  const acr = textOf(annotations, STEP_UP_ACR_ANNOTATION);
  if (acr === undefined || !isStepUpAcr(acr)) return undefined;
  const maxAge = textOf(annotations, STEP_UP_MAX_AGE_ANNOTATION);
  if (maxAge === undefined) return { acr };
  if (!/^\d{1,5}$/.test(maxAge) || Number(maxAge) > MAX_STEP_UP_MAX_AGE_SEC) return undefined;
  return { acr, maxAgeSec: Number(maxAge) };
}

/**
 * The reasons and step-up levels of a policy version, from Cedar's JSON form of its policies and
 * templates (`policyToJson` / `templateToJson`: `annotations` holds each `@name("value")`), with
 * each template's reasons carried to its links (a deny names the link id).
 */
export function annotationFactsOf(policies: ReadonlyMap<string, CedarPolicyJson>, links: readonly TemplateLink[] = []): PolicyAnnotationFacts {
  const reasons = new Map<string, PolicyReasons>();
  const levels = new Map<string, StepUpLevel>();
  for (const id of [...policies.keys()].sort()) {
    const annotations = (policies.get(id) as CedarPolicyJson).annotations;
    const user = textOf(annotations, REASON_USER_ANNOTATION);
    const admin = textOf(annotations, REASON_ADMIN_ANNOTATION);
    if (user !== undefined || admin !== undefined) {
      const texts: PolicyReasons = {};
      if (user !== undefined) texts.user = user;
      if (admin !== undefined) texts.admin = admin;
      reasons.set(id, texts);
    }
    const level = stepUpOf(annotations);
    const key = level === undefined ? undefined : `${level.acr}\u0000${level.maxAgeSec ?? ''}`;
    if (level !== undefined && key !== undefined && !levels.has(key)) levels.set(key, level);
  }
  for (const link of links) {
    const template = reasons.get(link.templateId);
    if (template !== undefined) reasons.set(link.id, template);
  }
  return { reasons, stepUps: [...levels.values()].slice(0, MAX_STEP_UP_LEVELS) };
}

/**
 * The texts a deny gives, from the determining policies' annotations (the record's `reasons`,
 * taken in policy-id order), distinct texts joined with a space; absent when none has one.
 */
export function reasonTextsOf(facts: PolicyAnnotationFacts, policyIds: readonly string[]): PolicyReasons {
  const user = new Set<string>();
  const admin = new Set<string>();
  for (const id of [...policyIds].sort()) {
    const found = facts.reasons.get(id);
    if (found?.user !== undefined) user.add(found.user);
    if (found?.admin !== undefined) admin.add(found.admin);
  }
  const texts: PolicyReasons = {};
  if (user.size > 0) texts.user = [...user].join(' ');
  if (admin.size > 0) texts.admin = [...admin].join(' ');
  return texts;
}

/**
 * Gateway route templates (`/todos/{todoId}`): validating a tenant's list, and matching the
 * path a gateway forwards to the most specific template.
 */
import { canonicalPath } from '@verity/core';

/** Most templates a tenant may configure. */
export const MAX_ROUTE_TEMPLATES = 500;
/** Longest template, in characters (a forwarded URI: `MAX_REQUEST_URI_LENGTH`). */
const MAX_TEMPLATE_LENGTH = 1024;

// A name starts with a letter: `__entity`-like names would read as Cedar JSON escapes in context.
const PARAM = /^\{([A-Za-z][A-Za-z0-9_]{0,63})\}$/;
// RFC 3986 pchar without `%` (a template names decoded segments) and without `{` `}`.
const LITERAL = /^[A-Za-z0-9._~!$&'()*+,;=:@-]+$/;

type Segment = { literal: string } | { param: string };

/** What a forwarded path matched: the template (the Cedar resource id) and its parameters. */
export interface RouteMatch {
  template: string;
  params: Record<string, string>;
}

/** The outcome of matching a URI against a table: a match, no template, or a refused path. */
export type RouteOutcome = ({ kind: 'matched' } & RouteMatch & { path: string }) | { kind: 'unmatched'; path: string } | { kind: 'refused'; reason: 'malformed' | 'ambiguous' };

export interface RouteTable {
  match(uri: string): RouteOutcome;
}

/** Why a template is not acceptable, or null when it is. */
export function routeTemplateProblem(template: string): string | null {
  if (template.length > MAX_TEMPLATE_LENGTH) return `is longer than ${MAX_TEMPLATE_LENGTH} characters`;
  if (!template.startsWith('/')) return 'must start with "/"';
  if (template === '/') return null;
  const names = new Set<string>();
  for (const segment of template.slice(1).split('/')) {
    const param = PARAM.exec(segment);
    if (param) {
      const name = param[1] as string;
      if (names.has(name)) return `repeats the parameter {${name}}`;
      names.add(name);
      continue;
    }
    if (segment === '') return 'has an empty segment ("//" or a trailing "/")';
    if (segment === '.' || segment === '..' || !LITERAL.test(segment)) return `has a segment "${segment.slice(0, 64)}" that is neither a literal nor {name}`;
  }
  return null;
}

function segmentsOf(template: string): Segment[] {
  if (template === '/') return [];
  return template
    .slice(1)
    .split('/')
    .map((segment) => {
      const param = PARAM.exec(segment);
      return param ? { param: param[1] as string } : { literal: segment };
    });
}

/** Two templates with the same shape (`/a/{x}` and `/a/{y}`) match the same paths: ambiguous. */
function shapeOf(template: string): string {
  return segmentsOf(template)
    .map((segment) => ('literal' in segment ? `/${segment.literal}` : '/{}'))
    .join('');
}

/**
 * Why a list of templates is not acceptable as a tenant's `gatewayRoutes`, or null. Each must
 * be valid, and no two may have the same shape.
 */
export function routeTemplatesProblem(templates: unknown): string | null {
  if (!Array.isArray(templates)) return 'must be an array of route templates';
  if (templates.length > MAX_ROUTE_TEMPLATES) return `holds more than ${MAX_ROUTE_TEMPLATES} templates`;
  const shapes = new Map<string, string>();
  for (const template of templates) {
    if (typeof template !== 'string') return 'must hold only strings';
    const problem = routeTemplateProblem(template);
    if (problem) return `template "${template.slice(0, 64)}" ${problem}`;
    const shape = shapeOf(template);
    const other = shapes.get(shape);
    if (other !== undefined) return `templates "${other.slice(0, 64)}" and "${template.slice(0, 64)}" match the same paths`;
    shapes.set(shape, template);
  }
  return null;
}

interface TrieNode {
  literals: Map<string, TrieNode>;
  param?: TrieNode;
  template?: string;
}

const newNode = (): TrieNode => ({ literals: new Map() });

/**
 * Depth-first, literal child before parameter child: the first template found is the most
 * specific one (at the first segment where two candidates differ, the literal one wins).
 */
function search(node: TrieNode, segments: readonly string[], index: number, params: string[]): string | undefined {
  if (index === segments.length) return node.template;
  const segment = segments[index] as string;
  const literal = node.literals.get(segment);
  if (literal) {
    const found = search(literal, segments, index + 1, params);
    if (found !== undefined) return found;
  }
  if (node.param) {
    params.push(segment);
    const found = search(node.param, segments, index + 1, params);
    if (found !== undefined) return found;
    params.pop();
  }
  return undefined;
}

/**
 * A matcher over templates already validated with `routeTemplatesProblem` (a template that is
 * not valid is a programming error here).
 *
 * @example
 * const routes = createRouteTable(['/todos', '/todos/{todoId}', '/todos/archive']);
 * routes.match('/todos/42?x=1'); // {kind: 'matched', template: '/todos/{todoId}', params: {todoId: '42'}, path: '/todos/42'}
 */
export function createRouteTable(templates: readonly string[]): RouteTable {
  const root = newNode();
  const names = new Map<string, string[]>();
  for (const template of templates) {
    const problem = routeTemplateProblem(template);
    if (problem) throw new TypeError(`route template ${problem}`);
    let node = root;
    const params: string[] = [];
    for (const segment of segmentsOf(template)) {
      if ('literal' in segment) {
        let next = node.literals.get(segment.literal);
        if (!next) node.literals.set(segment.literal, (next = newNode()));
        node = next;
      } else {
        // Templates share parameter nodes whatever their names; values are named per template below.
        node.param ??= newNode();
        params.push(segment.param);
        node = node.param;
      }
    }
    node.template ??= template;
    names.set(template, params);
  }
  return {
    match(uri) {
      // The one canonical form every enforcement point uses; literals match case-sensitively.
      const parsed = canonicalPath(uri);
      if (!parsed.ok) return { kind: 'refused', reason: parsed.reason };
      const values: string[] = [];
      const template = search(root, parsed.segments, 0, values);
      if (template === undefined) return { kind: 'unmatched', path: parsed.rawPath };
      const params = Object.fromEntries((names.get(template) ?? []).map((name, i) => [name, values[i] as string]));
      return { kind: 'matched', template, params, path: parsed.rawPath };
    },
  };
}

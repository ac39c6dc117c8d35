/** The only body parser: JSON, bounded in size by Fastify and in nesting depth here. */
import type { FastifyInstance } from 'fastify';
import { isStorableText, parseJson, VerityError } from '@verity/core';


/**
 * What is wrong with a parsed body, if anything: nesting deeper than `max`, or a string (value
 * or key) that no later layer could store or evaluate. Iterative, so a deep body cannot blow
 * the stack.
 */
export function jsonBodyProblem(value: unknown, max: number): 'depth' | 'string' | null {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop() as [unknown, number];
    if (typeof item === 'string') {
      if (!isStorableText(item)) return 'string';
      continue;
    }
    if (item === null || typeof item !== 'object') continue;
    if (depth > max) return 'depth';
    for (const [key, child] of Object.entries(item as object)) {
      if (!isStorableText(key)) return 'string';
      stack.push([child, depth + 1]);
    }
  }
  return null;
}

export function registerJsonBody(app: FastifyInstance, maxDepth: number): void {
  app.removeAllContentTypeParsers();
  const parse = (_request: unknown, body: string | Buffer, done: (error: Error | null, value?: unknown) => void) => {
    const text = body.toString();
    if (text.trim() === '') return done(new VerityError('ERR_REQUEST_MALFORMED_JSON', 'the body is empty'), undefined);
    let parsed: unknown;
    try {
      // Exact: a Cedar Long beyond 2^53 stays a bigint instead of being rounded.
      parsed = parseJson(text);
    } catch {
      return done(new VerityError('ERR_REQUEST_MALFORMED_JSON', 'the body is not valid JSON'), undefined);
    }
    const problem = jsonBodyProblem(parsed, maxDepth);
    if (problem === 'depth') return done(new VerityError('ERR_REQUEST_TOO_DEEP', `the body nests deeper than ${maxDepth} levels`), undefined);
    if (problem === 'string') return done(new VerityError('ERR_REQUEST_INVALID', 'strings must be well-formed Unicode without NUL characters'), undefined);
    done(null, parsed);
  };
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parse);
  app.addContentTypeParser(/^application\/[\w.-]+\+json$/, { parseAs: 'string' }, parse);
}

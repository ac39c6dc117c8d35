/** The only body parser: JSON, bounded in size by Fastify and in nesting depth here. */
import type { FastifyInstance } from 'fastify';
import { VerityError } from '@verity/core';

/** Depth of a parsed JSON value, computed without recursion (a deep body cannot blow the stack). */
export function jsonDepthExceeds(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop() as [unknown, number];
    if (item === null || typeof item !== 'object') continue;
    if (depth > max) return true;
    for (const child of Object.values(item as object)) stack.push([child, depth + 1]);
  }
  return false;
}

export function registerJsonBody(app: FastifyInstance, maxDepth: number): void {
  app.removeAllContentTypeParsers();
  const parse = (_request: unknown, body: string | Buffer, done: (error: Error | null, value?: unknown) => void) => {
    const text = body.toString();
    if (text.trim() === '') return done(new VerityError('ERR_REQUEST_MALFORMED_JSON', 'the body is empty'), undefined);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return done(new VerityError('ERR_REQUEST_MALFORMED_JSON', 'the body is not valid JSON'), undefined);
    }
    if (jsonDepthExceeds(parsed, maxDepth)) return done(new VerityError('ERR_REQUEST_TOO_DEEP', `the body nests deeper than ${maxDepth} levels`), undefined);
    done(null, parsed);
  };
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parse);
  app.addContentTypeParser(/^application\/[\w.-]+\+json$/, { parseAs: 'string' }, parse);
}

/**
 * Test helper: the configs docs/gateways.md gives operators, read at test time, so the gateway
 * tests run what the docs tell people to run and the two cannot drift apart.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const GATEWAYS_DOC = fileURLToPath(new URL('../../docs/gateways.md', import.meta.url));

/** The first ```` ```language ```` block under the `## {heading}` section of docs/gateways.md. */
export async function gatewayDocBlock(heading: string, language: string): Promise<string> {
  const doc = await readFile(GATEWAYS_DOC, 'utf8');
  const sectionAt = doc.indexOf(`\n## ${heading}`);
  const fence = '```' + language + '\n';
  const start = sectionAt < 0 ? -1 : doc.indexOf(fence, sectionAt);
  const end = start < 0 ? -1 : doc.indexOf('\n```', start + fence.length);
  if (end < 0) throw new Error(`docs/gateways.md has no \`\`\`${language} block under "## ${heading}"`);
  return doc.slice(start + fence.length, end + 1);
}

/**
 * `text` with each `[from, to]` replaced (every occurrence). A `from` missing is an error: the
 * doc changed, and the test must be told rather than run something else.
 */
export function substitute(text: string, replacements: Array<[from: string, to: string]>): string {
  let result = text;
  for (const [from, to] of replacements) {
    if (!result.includes(from)) throw new Error(`the documented config no longer contains ${JSON.stringify(from)}`);
    result = result.replaceAll(from, to);
  }
  return result;
}

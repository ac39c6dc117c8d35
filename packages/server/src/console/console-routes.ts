/**
 * The web console (docs/console.md): static HTML, CSS and ES modules under `/console/`, read once
 * at registration. The pages hold no secret and decide nothing: they call the public admin API
 * with the credential the user types, so every permission is the `_system` policies' check.
 */
import { readdir, readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { VerityError } from '@verity/core';

/** Where the console is served; `/console` redirects here so relative asset URLs resolve. */
export const CONSOLE_PATH = '/console/';

/** The files, beside this module in `src` and copied beside it in `dist` by scripts/build.mjs. */
const STATIC_DIR = new URL('./static/', import.meta.url);

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
};

/**
 * Sent with every console file. Scripts, styles and API calls only from this origin, no inline
 * script or style (the pages render data with `textContent`, never as HTML), no plugins, frames,
 * form posts or `<base>`; the page cannot be framed (clickjacking) and sends no referrer.
 */
export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  // Always revalidated: a new server version's files are used at once.
  'cache-control': 'no-cache',
};

interface ConsoleFile {
  type: string;
  body: Buffer;
}

/** The console's files by name (the folder is flat): only these are ever served. */
async function readConsoleFiles(): Promise<Map<string, ConsoleFile>> {
  const files = new Map<string, ConsoleFile>();
  for (const name of await readdir(STATIC_DIR)) {
    const type = CONTENT_TYPES[extname(name)];
    if (type !== undefined) files.set(name, { type, body: await readFile(new URL(name, STATIC_DIR)) });
  }
  if (!files.has('index.html')) throw new Error(`the web console's files are missing from ${STATIC_DIR.pathname}`);
  return files;
}

function send(reply: FastifyReply, file: ConsoleFile): FastifyReply {
  return reply.headers(CONSOLE_HEADERS).type(file.type).send(file.body);
}

/** Serve the console at `/console/` (registered only when `config.console` is on). */
export async function registerConsoleRoutes(app: FastifyInstance): Promise<void> {
  const files = await readConsoleFiles();
  const index = files.get('index.html') as ConsoleFile;
  app.get('/console', async (_request, reply) => reply.headers(CONSOLE_HEADERS).redirect(CONSOLE_PATH, 308));
  app.get(CONSOLE_PATH, async (_request, reply) => send(reply, index));
  app.get(`${CONSOLE_PATH}:file`, async (request, reply) => {
    const name = (request.params as { file: string }).file;
    const file = files.get(name);
    if (file === undefined) throw new VerityError('ERR_REQUEST_NOT_FOUND', `no console file ${name.slice(0, 64)}`);
    return send(reply, file);
  });
}

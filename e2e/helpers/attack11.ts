/** attack11: a `verity serve --workers N` child and requests over a fresh connection each. */
import { request as httpRequest } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_TOKEN } from './verity.js';
import { startServeProcess, killAll, type ServeProcess } from './serve-process.js';

export { ADMIN_TOKEN };

/** ATTACK_WORKERS=0 runs one process (no --workers), to compare. */
export const WORKERS = process.env.ATTACK_WORKERS ?? '2';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  body: any;
}

/** One request on a new connection (agent: false), so the cluster hands it to the next worker. */
export function fresh(url: string, method: string, path: string, options: { body?: unknown; form?: Record<string, string>; raw?: string; token?: string | null; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  let payload: string | undefined;
  if (options.form) {
    payload = new URLSearchParams(options.form).toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else if (options.raw !== undefined) {
    payload = options.raw;
  } else if (options.body !== undefined) {
    payload = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  const token = options.token === undefined ? ADMIN_TOKEN : options.token;
  if (token) headers.authorization = `Bearer ${token}`;
  if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload));
  const target = new URL(path, url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname: target.hostname, port: target.port, path: target.pathname + target.search, method, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let body: any;
        try {
          body = text === '' ? undefined : JSON.parse(text);
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
      });
    });
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export interface Started {
  serve: ServeProcess;
  url: string;
  folder: string;
  close(): Promise<void>;
}

export async function startCluster(extra: string[] = []): Promise<Started> {
  const folder = await mkdtemp(join(tmpdir(), 'attack11-'));
  const args = ['--data', join(folder, 'd'), ...(WORKERS === '0' ? [] : ['--workers', WORKERS]), ...extra];
  const serve = await startServeProcess(args, { VERITY_LOG_LEVEL: 'warn' });
  // wait until every worker answers /readyz (bounded)
  const deadline = Date.now() + 20_000;
  let ok = 0;
  while (ok < 6 && Date.now() < deadline) {
    const r = await fresh(serve.url, 'GET', '/readyz', { token: null }).catch(() => undefined);
    if (r?.status === 200) ok++;
    else await new Promise((res) => setTimeout(res, 50));
  }
  return {
    serve,
    url: serve.url,
    folder,
    async close() {
      await killAll([serve]);
      await rm(folder, { recursive: true, force: true });
    },
  };
}

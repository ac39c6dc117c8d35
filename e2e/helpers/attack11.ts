/** attack11: a `verity serve --workers N` child and requests over a fresh connection each. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_TOKEN } from './verity.js';
import { startServeProcess, killAll, type ServeProcess } from './serve-process.js';

export { ADMIN_TOKEN };
import { fresh } from './fresh-request.js';

export { fresh };
export type { Answer } from './fresh-request.js';

/** ATTACK_WORKERS=0 runs one process (no --workers), to compare. */
export const WORKERS = process.env.ATTACK_WORKERS ?? '2';

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

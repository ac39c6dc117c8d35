/**
 * Test helper: the real caddy of the operating system (Debian's `caddy` package) as a child
 * process on free loopback ports, its Caddyfile, data and config in a temporary folder, with no
 * admin endpoint and no automatic HTTPS. Never skips: without caddy it fails and says how to
 * install it.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewayDocBlock, substitute } from './gateway-doc.js';
import { findProgram, freePort, runProgram, stopProgram, waitUntilListening } from './local-program.js';

/** Where Debian (and the official packages, and builds from source) put caddy. */
const CANDIDATES = ['/usr/bin/caddy', '/usr/local/bin/caddy', '/usr/sbin/caddy'];

// No admin endpoint (nothing may reconfigure the test's caddy), and plain HTTP only: with
// automatic HTTPS, caddy would try to get certificates and redirect to https.
const GLOBAL_OPTIONS = `{
\tadmin off
\tauto_https off
}
`;

export interface RunningCaddy {
  /** One port per site, in the order of `StartCaddyOptions.sites`. */
  ports: number[];
  version: string;
  close(): Promise<void>;
}

export interface StartCaddyOptions {
  /** One Caddyfile site block per site, each given the free port it must serve on 127.0.0.1. */
  sites: Array<(port: number) => string>;
  /** Environment for caddy (the Caddyfile's `{env.NAME}` placeholders). */
  env?: Record<string, string>;
}

/** Start `caddy run` with the sites and wait until every one accepts connections. */
export async function startCaddy(options: StartCaddyOptions): Promise<RunningCaddy> {
  const binary = findProgram('caddy', CANDIDATES);
  const ports = await Promise.all(options.sites.map(() => freePort()));
  const text = GLOBAL_OPTIONS + options.sites.map((site, index) => site(ports[index] ?? 0)).join('\n');
  const dir = await mkdtemp(join(tmpdir(), 'verity-caddy-'));
  // Caddy keeps certificates, locks and its autosaved config under these; never the user's own.
  const env = { PATH: process.env.PATH ?? '', HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config'), ...options.env };
  const caddyfile = join(dir, 'Caddyfile');
  await writeFile(caddyfile, text);
  const version = (await runProgram(binary, ['version'], env)).output.trim();
  const child = spawn(binary, ['run', '--config', caddyfile, '--adapter', 'caddyfile'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (chunk) => (log += chunk));
  try {
    await waitUntilListening(child, ports, async () => `caddy ${version}: ${log}`);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    ports,
    version,
    async close() {
      // SIGTERM: caddy stops its servers gracefully (idle keep-alive connections are closed), then exits.
      await stopProgram(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Where a documented site sends its requests. */
export interface CaddySiteTargets {
  verityPort: number;
  upstreamPort: number;
}

/**
 * The Caddy site block docs/gateways.md §5 gives operators, with only its address and the hosts
 * of Verity and the app replaced; the gateway's credential comes from the environment, as in
 * the doc (`VERITY_GATEWAY_CREDENTIAL`).
 */
export async function documentedCaddySite(targets: CaddySiteTargets): Promise<(port: number) => string> {
  const block = await gatewayDocBlock('5. Caddy', 'caddyfile');
  return (port: number) =>
    substitute(block, [
      ['example.com {', `http://127.0.0.1:${port} {`],
      ['verity:8181', `127.0.0.1:${targets.verityPort}`],
      ['app:8080', `127.0.0.1:${targets.upstreamPort}`],
    ]);
}

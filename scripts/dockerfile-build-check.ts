/**
 * The Dockerfile's build steps, run without a container daemon (issue 14; docs/operations.md,
 * "Deploying"). Each stage gets a scratch folder that stands for its image's filesystem: `COPY`
 * copies from the build context (what `.dockerignore` lets through) or from an earlier stage's
 * folder, `RUN` runs its commands with `sh` in the stage's `WORKDIR` and `ENV`, as its `USER`.
 * The last stage is then started as the image starts: `ENTRYPOINT` + `CMD`, as its non-root user,
 * until its `HEALTHCHECK` passes and `/readyz` answers 200; an admin call and a stop (SIGTERM,
 * exit 0) follow. `--version` through the entrypoint comes first.
 *
 * What the scratch folder cannot be, and how each difference is handled:
 * - Absolute paths in `RUN`, `CMD` and `HEALTHCHECK` (`/data`) are taken inside the stage's folder.
 * - The base image's users are those of the official Node.js images (`root` 0, `node` 1000); a
 *   `chown` to them is run with their numbers, and the stage's process runs under them.
 * - The image's port (8181) is replaced by a free port of this machine in `CMD` and `HEALTHCHECK`.
 * - `npm cache clean` is not run: here it would empty this machine's cache, in the image it only
 *   makes the layer smaller. `npm` runs with `prefer-offline` (the same packages, from the cache).
 * A `RUN` with shell constructs beyond `&&` (quotes, `$`, pipes, redirections), an instruction or
 * option this runner does not know, fails the check rather than running something else.
 *
 *   node --import ./packages/cli/loader/register.mjs scripts/dockerfile-build-check.ts [--keep]
 *
 * A step of .ci/run (`npm run check:dockerfile`); exits non-zero at the first thing that does not
 * hold, naming the instruction.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, cp, mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDockerfile, type Instruction, type Stage } from '../e2e/helpers/dockerfile.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The users of the official `node:*` images (`/etc/passwd` there): name → uid (= gid). */
const IMAGE_USERS: Record<string, number> = { root: 0, node: 1000 };
/** The port the Dockerfile's `CMD` and `HEALTHCHECK` name. */
const IMAGE_PORT = '8181';
/** How long the started image has to become healthy and ready (the HEALTHCHECK's start period is 60 s). */
const START_LIMIT_MS = 90_000;

class CheckFailed extends Error {}
const fail = (message: string): never => {
  throw new CheckFailed(message);
};

interface StageState {
  stage: Stage;
  /** The folder that stands for the stage's `/`. */
  root: string;
  /** The image's working directory, an absolute POSIX path. */
  workdir: string;
  env: Record<string, string>;
  user: string;
}

/** `path` (absolute, in the image) in the stage's folder. */
const inStage = (state: StageState, path: string): string => join(state.root, posix.resolve('/', path));
/** `path` as the image reads it: relative to its WORKDIR unless absolute. */
const imagePath = (state: StageState, path: string): string => posix.resolve(state.workdir, path);

/** `.dockerignore`'s patterns as regular expressions over context-relative paths (`**`, `*`, `?`). */
async function dockerignore(): Promise<RegExp[]> {
  const text = await readFile(join(ROOT, '.dockerignore'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((pattern) => {
      if (pattern.startsWith('!')) fail(`.dockerignore: exceptions (${pattern}) are not supported by this check`);
      const body = pattern
        .replace(/^\/+|\/+$/g, '')
        .split(/(\*\*\/|\*|\?)/)
        .map((part) => (part === '**/' ? '(?:.*/)?' : part === '*' ? '[^/]*' : part === '?' ? '[^/]' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('');
      return new RegExp(`^${body}$`);
    });
}

/** A free TCP port on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** The environment a process of the stage sees: this machine's PATH, the image's ENV, a HOME. */
function processEnv(state: StageState): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin', HOME: state.user === 'root' ? inStage(state, '/root') : inStage(state, `/home/${state.user}`) };
  // npm's cache stays this machine's (root's): prefer-offline installs the lockfile's packages from it.
  if (state.user === 'root') env['npm_config_cache'] = join(process.env['HOME'] ?? '/root', '.npm');
  env['npm_config_prefer_offline'] = 'true';
  env['npm_config_update_notifier'] = 'false';
  return { ...env, ...state.env };
}

/** Runs `command` (argv) as the stage's user; resolves with its exit code, output passed through. */
function runAs(state: StageState, command: string[], cwd: string): Promise<number> {
  const uid = IMAGE_USERS[state.user] ?? fail(`USER ${state.user}: not a user of the base image (${Object.keys(IMAGE_USERS).join(', ')})`);
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), { cwd, env: processEnv(state), uid, gid: uid, stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
  });
}

/** One simple command of a `RUN`, its words with absolute paths and users taken into the stage. */
function stageCommand(state: StageState, words: string[]): string[] | null {
  if (words[0] === 'npm' && words[1] === 'cache' && words[2] === 'clean') return null;
  return words.map((word, index) => {
    if (words[0] === 'chown' && index > 0 && !word.startsWith('-') && !word.startsWith('/')) {
      return word
        .split(':')
        .map((name) => String(IMAGE_USERS[name] ?? fail(`chown ${word}: ${name} is not a user of the base image`)))
        .join(':');
    }
    return word.startsWith('/') ? inStage(state, word) : word;
  });
}

async function run(state: StageState, instruction: Instruction): Promise<void> {
  if (instruction.json !== null) fail(`RUN ${instruction.rest}: exec form is not supported by this check`);
  if (/["'`$|;<>(){}\\]/.test(instruction.rest)) fail(`RUN ${instruction.rest}: shell constructs beyond && are not supported by this check`);
  for (const part of instruction.rest.split('&&')) {
    const words = part.trim().split(/\s+/).filter((word) => word !== '');
    const command = stageCommand(state, words);
    if (command === null) {
      console.log(`   (not run here: ${words.join(' ')})`);
      continue;
    }
    console.log(`   $ ${words.join(' ')}`);
    const code = await runAs(state, ['sh', '-c', command.join(' ')], inStage(state, state.workdir));
    if (code !== 0) fail(`RUN ${instruction.rest}: \`${words.join(' ')}\` exited ${code}`);
  }
}

/** `COPY [--from=stage] src… dest`, with Docker's rules: a folder's contents, a file into a folder. */
async function copy(state: StageState, instruction: Instruction, stages: Map<string, StageState>, ignore: RegExp[]): Promise<void> {
  for (const flag of Object.keys(instruction.flags)) if (flag !== 'from') fail(`COPY --${flag}: not supported by this check`);
  const words = instruction.json ?? instruction.rest.split(/\s+/);
  if (words.length < 2) fail(`COPY ${instruction.rest}: needs a source and a destination`);
  const dest = words.at(-1)!;
  const from = instruction.flags['from'];
  const source = from === undefined ? null : (stages.get(from) ?? fail(`COPY --from=${from}: no earlier stage of that name`));
  const target = inStage(state, imagePath(state, dest));
  const intoFolder = dest.endsWith('/') || words.length > 2;
  for (const src of words.slice(0, -1)) {
    if (/[*?[]/.test(src)) fail(`COPY ${src}: wildcards are not supported by this check`);
    const path = source === null ? join(ROOT, posix.normalize(src)) : inStage(source, src);
    if (source === null && relative(ROOT, path).startsWith('..')) fail(`COPY ${src}: outside the build context`);
    const info = await stat(path).catch(() => fail(`COPY ${from === undefined ? '' : `--from=${from} `}${src}: no such file`));
    const contextPath = (file: string): string => relative(ROOT, file).split('\\').join('/');
    const filter = source === null ? (file: string) => file === ROOT || !ignore.some((pattern) => pattern.test(contextPath(file))) : () => true;
    if (source === null && !filter(path)) fail(`COPY ${src}: excluded by .dockerignore`);
    const to = info.isDirectory() || !intoFolder ? target : join(target, basename(src));
    await mkdir(info.isDirectory() ? to : join(to, '..'), { recursive: true });
    await cp(path, to, { recursive: true, filter, verbatimSymlinks: true });
  }
}

/** `ENV key=value …` (no quotes: this check refuses what it cannot read exactly). */
function setEnv(state: StageState, instruction: Instruction): void {
  for (const pair of instruction.rest.split(/\s+/)) {
    const match = /^([A-Za-z_]\w*)=([^"'$\\]*)$/.exec(pair) ?? fail(`ENV ${instruction.rest}: only unquoted key=value pairs are supported by this check`);
    state.env[match[1]!] = match[2]!;
  }
}

interface Image {
  state: StageState;
  entrypoint: string[];
  cmd: string[];
  healthcheck: { flags: Record<string, string>; command: string[] } | null;
}

/** Builds every stage in order; the last is the image. */
async function build(scratch: string): Promise<Image> {
  const stages = parseDockerfile(await readFile(join(ROOT, 'Dockerfile'), 'utf8'));
  if (stages.length === 0) fail('Dockerfile: no FROM');
  const ignore = await dockerignore();
  const byName = new Map<string, StageState>();
  let image: Image | null = null;
  for (const [index, stage] of stages.entries()) {
    if (!/^node:20[\w.-]*$/.test(stage.from)) fail(`FROM ${stage.from}: this check stands in for Node.js 20 images only`);
    const state: StageState = { stage, root: join(scratch, stage.name ?? `stage-${index}`), workdir: '/', env: {}, user: 'root' };
    await mkdir(join(state.root, 'home', 'node'), { recursive: true });
    await chown(join(state.root, 'home', 'node'), IMAGE_USERS['node']!, IMAGE_USERS['node']!);
    image = { state, entrypoint: [], cmd: [], healthcheck: null };
    console.log(`== stage ${stage.name ?? index} (FROM ${stage.from})`);
    for (const instruction of stage.instructions) {
      console.log(` ${instruction.keyword} ${instruction.rest}`);
      switch (instruction.keyword) {
        case 'WORKDIR':
          state.workdir = imagePath(state, instruction.rest);
          await mkdir(inStage(state, state.workdir), { recursive: true });
          break;
        case 'ENV':
          setEnv(state, instruction);
          break;
        case 'COPY':
          await copy(state, instruction, byName, ignore);
          break;
        case 'RUN':
          await run(state, instruction);
          break;
        case 'USER':
          if (IMAGE_USERS[instruction.rest] === undefined) fail(`USER ${instruction.rest}: not a user of the base image`);
          state.user = instruction.rest;
          break;
        case 'ENTRYPOINT':
          image.entrypoint = instruction.json ?? fail('ENTRYPOINT: exec form (a JSON array) expected');
          image.cmd = [];
          break;
        case 'CMD':
          image.cmd = instruction.json ?? fail('CMD: exec form (a JSON array) expected');
          break;
        case 'HEALTHCHECK': {
          const json = instruction.rest.startsWith('CMD ') ? instruction.rest.slice(4).trim() : '';
          const command: unknown = json.startsWith('[') ? JSON.parse(json) : fail('HEALTHCHECK: CMD in exec form expected');
          if (!Array.isArray(command) || !command.every((word) => typeof word === 'string')) fail('HEALTHCHECK: CMD in exec form expected');
          image.healthcheck = { flags: instruction.flags, command: command as string[] };
          break;
        }
        case 'VOLUME':
        case 'EXPOSE':
        case 'LABEL':
        case 'ARG':
          break;
        default:
          fail(`${instruction.keyword}: not supported by this check`);
      }
    }
    if (stage.name !== null) byName.set(stage.name, state);
  }
  return image!;
}

/** `--interval=10s` and the like, in milliseconds. */
function duration(text: string | undefined, fallback: number): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text ?? '');
  if (match === null) return fallback;
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[match[2] as 'ms' | 's' | 'm'];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What the image's filesystem must and must not hold. */
async function inspect(image: Image): Promise<void> {
  const { state } = image;
  const app = inStage(state, state.workdir);
  for (const name of await readdir(join(app, 'packages'))) {
    const folder = join(app, 'packages', name);
    const entries = await readdir(folder);
    if (entries.includes('src')) fail(`the image holds packages/${name}/src: it must run the compiled JavaScript only`);
    if (!entries.includes('dist')) fail(`the image has no packages/${name}/dist`);
  }
  for (const devOnly of ['typescript', 'vitest', 'eslint']) {
    if (await stat(join(app, 'node_modules', devOnly)).then(() => true, () => false)) fail(`the image holds the development dependency ${devOnly}`);
  }
  console.log(' the image holds compiled packages and production dependencies only');
}

/** Starts the image as `docker run` would, waits for health and readiness, then stops it. */
async function start(image: Image): Promise<void> {
  const { state } = image;
  const port = String(await freePort());
  const rewrite = (words: string[]): string[] => words.map((word) => (word === IMAGE_PORT ? port : word.replaceAll(`:${IMAGE_PORT}/`, `:${port}/`))).map((word) => (word.startsWith('/') ? inStage(state, word) : word));
  const cwd = inStage(state, state.workdir);

  console.log(`== ${image.entrypoint.join(' ')} --version (as ${state.user})`);
  if ((await runAs(state, [...image.entrypoint, '--version'], cwd)) !== 0) fail('--version through the ENTRYPOINT failed');

  const adminToken = randomBytes(32).toString('base64url');
  const command = rewrite([...image.entrypoint, ...image.cmd]);
  console.log(`== ${[...image.entrypoint, ...image.cmd].join(' ')} (as ${state.user}, port ${IMAGE_PORT} → ${port})`);
  const uid = IMAGE_USERS[state.user]!;
  const child = spawn(command[0]!, command.slice(1), { cwd, env: { ...processEnv(state), VERITY_ADMIN_TOKEN: adminToken }, uid, gid: uid, stdio: ['ignore', 'inherit', 'inherit'] });
  let exited: number | null = null;
  const exit = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve((exited = code ?? (signal === null ? 1 : 128)))));
  try {
    const health = image.healthcheck ?? fail('the image has no HEALTHCHECK');
    const healthCommand = rewrite(health.command);
    const timeoutMs = duration(health.flags['timeout'], 30_000);
    const deadline = Date.now() + START_LIMIT_MS;
    let healthy = false;
    while (!healthy && Date.now() < deadline && exited === null) {
      const probe = spawn(healthCommand[0]!, healthCommand.slice(1), { cwd, env: processEnv(state), uid, gid: uid, stdio: 'ignore', timeout: timeoutMs });
      healthy = (await new Promise<number | null>((resolve) => probe.once('exit', resolve))) === 0;
      if (!healthy) await sleep(250);
    }
    if (exited !== null) fail(`the image's command exited ${exited} before it was healthy`);
    if (!healthy) fail(`the HEALTHCHECK did not pass within ${START_LIMIT_MS / 1000} s`);
    console.log(' HEALTHCHECK passed');

    const base = `http://127.0.0.1:${port}`;
    let ready = 0;
    while (Date.now() < deadline && ready !== 200) {
      ready = await fetch(`${base}/readyz`).then((response) => response.status, () => 0);
      if (ready !== 200) await sleep(250);
    }
    if (ready !== 200) fail(`/readyz answered ${ready} until the limit`);
    console.log(' /readyz 200');
    const tenants = await fetch(`${base}/admin/v1/tenants`, { headers: { authorization: `Bearer ${adminToken}` } });
    if (tenants.status !== 200) fail(`GET /admin/v1/tenants with VERITY_ADMIN_TOKEN answered ${tenants.status}`);
    console.log(' the admin API takes VERITY_ADMIN_TOKEN');
    const data = await stat(inStage(state, '/data/verity')).catch(() => fail('nothing was written to the volume (/data/verity)'));
    if (data.uid !== uid) fail(`/data/verity is owned by uid ${data.uid}, not the image's user (${uid})`);
    console.log(` the data folder on the volume is the ${state.user} user's`);
  } finally {
    if (exited === null) child.kill('SIGTERM');
  }
  const code = await Promise.race([exit, sleep(30_000).then(() => null)]);
  if (code === null) {
    child.kill('SIGKILL');
    fail('the image did not stop within 30 s of SIGTERM');
  }
  if (code !== 0) fail(`the image exited ${code} on SIGTERM`);
  console.log(' stopped on SIGTERM, exit 0');
}

async function main(): Promise<void> {
  const keep = process.argv.includes('--keep');
  const scratch = await mkdtemp(join(tmpdir(), 'verity-dockerfile-'));
  // The image's user (uid 1000) reads the stage folders as it would read the image.
  await chmod(scratch, 0o755);
  try {
    const image = await build(scratch);
    await inspect(image);
    await start(image);
    console.log('== the Dockerfile builds and its image starts, healthy and ready');
  } finally {
    if (keep) console.log(`(kept ${scratch})`);
    else await rm(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof CheckFailed ? `dockerfile-build-check: ${error.message}` : error);
  process.exitCode = 1;
});

/**
 * What Verity ships besides its code (issue 14; docs/operations.md, "Deploying"): the Dockerfile
 * and compose.yaml, read and held to their invariants; every package packed with `npm pack`, its
 * tarball holding the build and nothing of the sources; every Kustomize overlay rendered by
 * `kubectl kustomize` (Debian's kubernetes-client, scripts/ensure-test-peers.sh) and its objects
 * checked. No container daemon or cluster is needed: no image is built, nothing is applied.
 * Installing the tarballs into a project of their own is scripts/pack-install-check.sh.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { readConfigFile } from '../packages/cli/src/config-file.js';
import { parseDockerfile, type Instruction, type Stage } from './helpers/dockerfile.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
/** Every workspace package's folder name (packages/*). */
const PACKAGES = readdirSync(join(ROOT, 'packages')).filter((name) => existsSync(join(ROOT, 'packages', name, 'package.json')));
/** The files the build copies beside the JavaScript (scripts/build.mjs). */
const ASSET = /\.(?:mjs|d\.mts|cedar|cedarschema|html|css)$/;
/** Settings whose values are secrets: never a literal value in a manifest. */
const SECRET_ENV = /TOKEN|KEY|PASSWORD|SECRET|DATABASE_URL/;

/** Parsed YAML and JSON: the tests read it field by field and assert on what they find. */
type Json = any;

const all = (stage: Stage, keyword: string): Instruction[] => stage.instructions.filter((i) => i.keyword === keyword);

describe('Dockerfile', () => {
  const stages = parseDockerfile(read('Dockerfile'));
  const build = stages.find((stage) => stage.name === 'build')!;
  const runtime = stages.at(-1)!;
  const ignored = read('.dockerignore').split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  const runs = (stage: Stage) => all(stage, 'RUN').map((i) => i.rest);
  const copiedFromContext = (stage: Stage) => all(stage, 'COPY').filter((i) => i.flags['from'] === undefined).flatMap((i) => i.rest.split(/\s+/).slice(0, -1));

  it('builds in a stage of its own and runs on a slim Node 20 image with production dependencies only', () => {
    expect(stages.length).toBe(2);
    expect(build).toBeDefined();
    expect(runtime).not.toBe(build);
    expect(runtime.from).toMatch(/^node:20[\w.-]*-slim$/);
    expect(runs(build)).toEqual(expect.arrayContaining([expect.stringMatching(/^npm ci\b/), 'npm run build']));
    expect(runs(runtime).some((command) => /^npm ci\b.*--omit=dev/.test(command))).toBe(true);
  });

  it('runs as a user other than root, with /data as its volume, and says how to start', () => {
    const users = all(runtime, 'USER').map((i) => i.rest);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
    expect(all(runtime, 'VOLUME').map((i) => i.rest)).toContain('/data');
    expect(all(runtime, 'EXPOSE').map((i) => i.rest)).toContain('8181');
    expect(all(runtime, 'ENTRYPOINT').at(-1)?.json).toEqual(['node', 'packages/cli/bin/verity.mjs']);
    expect(all(runtime, 'CMD').at(-1)?.json).toEqual(['serve', '--host', '0.0.0.0', '--port', '8181', '--data', '/data/verity']);
  });

  it('checks /healthz with node (the slim image has no curl)', () => {
    const [check] = all(runtime, 'HEALTHCHECK');
    expect(check?.rest).toMatch(/^CMD \[/);
    const command = JSON.parse(check!.rest.slice('CMD'.length)) as string[];
    expect(command[0]).toBe('node');
    expect(command.join(' ')).toContain('http://127.0.0.1:8181/healthz');
  });

  it('copies only files that exist and that .dockerignore lets through', () => {
    const sources = [...copiedFromContext(build), ...copiedFromContext(runtime)];
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect(existsSync(join(ROOT, source)), source).toBe(true);
      for (const pattern of ignored) {
        const hit = pattern.startsWith('**/') ? source.split('/').includes(pattern.slice(3)) : source === pattern || source.startsWith(`${pattern}/`);
        expect(hit, `${source} is excluded by .dockerignore's ${pattern}`).toBe(false);
      }
    }
  });

  it('gives npm ci every workspace manifest, and the runtime every package build and no sources', () => {
    for (const stage of [build, runtime]) {
      const copied = copiedFromContext(stage);
      for (const name of PACKAGES) expect(copied, `${stage.name ?? 'runtime'}: packages/${name}/package.json`).toContain(`packages/${name}/package.json`);
    }
    const fromBuild = all(runtime, 'COPY').filter((i) => i.flags['from'] === build.name).map((i) => i.rest.split(/\s+/));
    for (const name of PACKAGES) expect(fromBuild, name).toContainEqual([`/app/packages/${name}/dist`, `packages/${name}/dist`]);
    expect(copiedFromContext(runtime).filter((source) => /(^|\/)src(\/|$)/.test(source))).toEqual([]);
    expect(copiedFromContext(runtime)).toContain('packages/cli/bin');
  });
});

describe('compose.yaml', () => {
  const compose: Json = parse(read('compose.yaml'), { merge: true });
  const services = Object.entries(compose.services as Record<string, Json>);
  const verity = services.filter(([, service]) => service.build !== undefined);
  const postgres = services.find(([, service]) => String(service.image).startsWith('postgres:'));

  it('runs PostgreSQL with a healthcheck and two Verity replicas built from the Dockerfile', () => {
    expect(postgres).toBeDefined();
    expect(postgres![1].healthcheck.test.join(' ')).toContain('pg_isready');
    expect(verity.map(([name]) => name)).toHaveLength(2);
    for (const [, service] of verity) expect([service.build, service.build?.context].includes('.')).toBe(true);
  });

  it('starts each replica on PostgreSQL once it is healthy, with healthchecks of its own', () => {
    for (const [name, service] of verity) {
      expect(service.depends_on?.[postgres![0]]?.condition, name).toBe('service_healthy');
      expect(service.healthcheck.test.join(' '), name).toMatch(/\/(readyz|healthz)/);
      expect(new URL(service.environment.VERITY_DATABASE_URL.replace(/\$\{[^}]*\}/g, 'x')).hostname, name).toBe(postgres![0]);
      expect(service.command, `${name}: a data folder and a database URL are refused together`).not.toContain('--data');
    }
  });

  it('shares the master key, the admin token and the public URL, from the environment, never a value', () => {
    const [[, one], [, two]] = verity as [[string, Json], [string, Json]];
    for (const key of ['VERITY_MASTER_KEY', 'VERITY_ADMIN_TOKEN']) {
      expect(one.environment[key]).toMatch(new RegExp(`^\\$\\{${key}(:\\?[^}]*)?\\}$`));
      expect(two.environment[key]).toBe(one.environment[key]);
    }
    const publicUrl = (service: Json) => service.command[service.command.indexOf('--public-url') + 1];
    expect(publicUrl(one)).toBeDefined();
    expect(publicUrl(two)).toBe(publicUrl(one));
    expect(one.environment.VERITY_DATABASE_URL).toContain('${POSTGRES_PASSWORD');
  });

  it('gives each replica a spool of its own', () => {
    const spools = verity.map(([, service]) => String(service.volumes.find((volume: string) => volume.endsWith(':/data'))));
    expect(new Set(spools).size).toBe(2);
  });
});

describe('npm pack', () => {
  let scratch: string;
  let packed: Array<{ name: string; files: Array<{ path: string }> }>;

  beforeAll(async () => {
    // The tarballs hold dist: build first (nothing to do when the build is current).
    await run(process.execPath, ['scripts/build.mjs', '--if-stale'], { cwd: ROOT, timeout: 240_000 });
    scratch = await mkdtemp(join(tmpdir(), 'verity-pack-'));
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', scratch, ...PACKAGES.flatMap((name) => ['--workspace', `packages/${name}`])], { cwd: ROOT, timeout: 120_000 });
    packed = JSON.parse(stdout);
  }, 300_000);
  afterAll(async () => {
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  });

  it('builds every package: each has a tsconfig.build.json in the solution npm run build builds', () => {
    const solution: Json = ts.readConfigFile(join(ROOT, 'tsconfig.build.json'), ts.sys.readFile).config;
    expect(solution.references.map((reference: Json) => reference.path).sort()).toEqual(PACKAGES.map((name) => `packages/${name}/tsconfig.build.json`).sort());
  });

  it('packs every package, with the version its siblings depend on', () => {
    const manifests = new Map(PACKAGES.map((name) => [name, JSON.parse(read(`packages/${name}/package.json`)) as Json]));
    expect(packed.map((p) => p.name).sort()).toEqual([...manifests.values()].map((m) => m.name).sort());
    const versions = new Map([...manifests.values()].map((m) => [m.name as string, m.version as string]));
    for (const manifest of manifests.values()) {
      for (const [dependency, range] of Object.entries((manifest.dependencies ?? {}) as Record<string, string>)) {
        if (versions.has(dependency)) expect(range, `${manifest.name} → ${dependency}`).toBe(versions.get(dependency));
      }
    }
  });

  it('holds every export, JavaScript with its declarations, the runtime assets, and no sources or tests', () => {
    for (const name of PACKAGES) {
      const manifest: Json = JSON.parse(read(`packages/${name}/package.json`));
      const files = new Set(packed.find((p) => p.name === manifest.name)!.files.map((file) => file.path));
      const targets = Object.values(manifest.exports as Record<string, string | Record<string, string>>).flatMap((target) =>
        typeof target === 'string' ? [target] : [target['default']!, target['types']!],
      );
      for (const target of [...targets, ...Object.values((manifest.bin ?? {}) as Record<string, string>)]) expect(files, `${manifest.name}: ${target}`).toContain(target.replace(/^\.\//, ''));
      const scripts = [...files].filter((file) => file.startsWith('dist/') && file.endsWith('.js'));
      expect(scripts.length, manifest.name).toBeGreaterThan(0);
      for (const script of scripts) expect(files, script).toContain(script.replace(/\.js$/, '.d.ts'));
      for (const file of files) {
        expect(file, manifest.name).not.toMatch(/^src\/|\.test\.|test-helpers|test-fixtures|\.tsbuildinfo$|\.build-stamp$/);
      }
      const assets = readdirSync(join(ROOT, 'packages', name, 'src'), { recursive: true, encoding: 'utf8' }).filter((path) => ASSET.test(path) && !path.includes('testdata') && !path.includes('.test.'));
      for (const asset of assets) expect(files, `${manifest.name}: ${asset}`).toContain(`dist/${asset}`);
    }
  });
});

describe('Kubernetes (kubectl kustomize)', () => {
  const overlays = readdirSync(join(ROOT, 'deploy/k8s/overlays'));
  const rendered = new Map<string, Json[]>();

  beforeAll(async () => {
    for (const overlay of overlays) {
      const { stdout } = await run('kubectl', ['kustomize', `deploy/k8s/overlays/${overlay}`], { cwd: ROOT, timeout: 60_000 }).catch((error: NodeJS.ErrnoException) => {
        throw error.code === 'ENOENT' ? new Error('kubectl is not installed: run scripts/ensure-test-peers.sh (Debian: apt-get install kubernetes-client)') : error;
      });
      rendered.set(overlay, parseAllDocuments(stdout).map((document) => document.toJS()));
    }
  }, 120_000);

  const one = (overlay: string, kind: string): Json => {
    const found = rendered.get(overlay)!.filter((object) => object.kind === kind);
    expect(found, `${overlay}: one ${kind}`).toHaveLength(1);
    return found[0];
  };
  const container = (overlay: string): Json => one(overlay, 'Deployment').spec.template.spec.containers[0];
  const env = (overlay: string): Map<string, Json> => new Map((container(overlay).env ?? []).map((entry: Json) => [entry.name, entry]));

  it('has the two overlays docs/operations.md describes', () => {
    expect(overlays.sort()).toEqual(['pglite-single', 'postgres']);
  });

  it('probes /healthz for start-up and liveness and /readyz for readiness, on the port Verity listens on', () => {
    for (const overlay of overlays) {
      const verity = container(overlay);
      expect(verity.startupProbe.httpGet.path, overlay).toBe('/healthz');
      expect(verity.livenessProbe.httpGet.path, overlay).toBe('/healthz');
      expect(verity.readinessProbe.httpGet.path, overlay).toBe('/readyz');
      const port = verity.ports.find((p: Json) => p.name === verity.readinessProbe.httpGet.port || p.containerPort === verity.readinessProbe.httpGet.port);
      expect(port?.containerPort, overlay).toBe(8181);
      const service = one(overlay, 'Service');
      expect([port.name, port.containerPort]).toContain(service.spec.ports[0].targetPort);
    }
  });

  it('runs as non-root without privileges, within resources', () => {
    for (const overlay of overlays) {
      const pod = one(overlay, 'Deployment').spec.template.spec;
      expect(pod.securityContext.runAsNonRoot, overlay).toBe(true);
      expect(pod.securityContext.runAsUser, overlay).toBeGreaterThan(0);
      const verity = container(overlay);
      expect(verity.securityContext.allowPrivilegeEscalation, overlay).toBe(false);
      expect(verity.securityContext.capabilities.drop, overlay).toContain('ALL');
      expect(verity.resources.requests.cpu, overlay).toBeDefined();
      expect(verity.resources.requests.memory, overlay).toBeDefined();
      expect(verity.resources.limits.memory, overlay).toBeDefined();
    }
  });

  it('selects its own pods from the Service and the PodDisruptionBudget', () => {
    for (const overlay of overlays) {
      const deployment = one(overlay, 'Deployment');
      const labels = deployment.spec.template.metadata.labels;
      for (const selector of [deployment.spec.selector.matchLabels, one(overlay, 'PodDisruptionBudget').spec.selector.matchLabels, one(overlay, 'Service').spec.selector]) {
        expect(labels, overlay).toMatchObject(selector);
      }
      expect(one(overlay, 'PodDisruptionBudget').spec.maxUnavailable, overlay).toBe(1);
    }
  });

  it('refers to secrets and never holds one', () => {
    for (const overlay of overlays) {
      expect(rendered.get(overlay)!.filter((object) => object.kind === 'Secret'), overlay).toEqual([]);
      for (const [name, entry] of env(overlay)) {
        if (SECRET_ENV.test(name)) expect(entry.valueFrom?.secretKeyRef?.name, `${overlay}: ${name}`).toBe('verity');
      }
      expect(env(overlay).get('VERITY_MASTER_KEY')?.valueFrom.secretKeyRef.key, overlay).toBe('master-key');
    }
  });

  it('starts `verity serve --config` on the ConfigMap, a valid config file that stops before the grace period ends', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'verity-k8s-config-'));
    try {
      for (const overlay of overlays) {
        const deployment = one(overlay, 'Deployment');
        const verity = container(overlay);
        const args: string[] = verity.args;
        const file = args[args.indexOf('--config') + 1]!;
        const mount = verity.volumeMounts.find((m: Json) => file.startsWith(`${m.mountPath}/`));
        const volume = deployment.spec.template.spec.volumes.find((v: Json) => v.name === mount?.name);
        const configMap = rendered.get(overlay)!.find((object) => object.kind === 'ConfigMap' && object.metadata.name === volume?.configMap?.name);
        const text = configMap?.data[file.slice(mount.mountPath.length + 1)];
        expect(text, `${overlay}: ${file} comes from a ConfigMap in the overlay`).toBeTypeOf('string');
        await writeFile(join(dir, `${overlay}.yaml`), text);
        const config = await readConfigFile(`${overlay}.yaml`, dir); // unknown keys and wrong types throw
        expect(config.settings.has('dataDir') || config.settings.has('databaseUrl'), `${overlay}: the store is the overlay's`).toBe(false);
        const shutdownMs = (config.settings.get('shutdownTimeoutMs')?.value as number | undefined) ?? 10_000;
        // docs/operations.md: terminationGracePeriodSeconds ≥ shutdown timeout + 5 s.
        expect(deployment.spec.template.spec.terminationGracePeriodSeconds * 1000, overlay).toBeGreaterThanOrEqual(shutdownMs + 5000);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('pglite-single: one replica on a persistent volume, replaced rather than rolled', () => {
    const deployment = one('pglite-single', 'Deployment');
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy.type).toBe('Recreate');
    const args: string[] = container('pglite-single').args;
    const data = args[args.indexOf('--data') + 1]!;
    const mount = container('pglite-single').volumeMounts.find((m: Json) => data.startsWith(`${m.mountPath}/`));
    const volume = deployment.spec.template.spec.volumes.find((v: Json) => v.name === mount?.name);
    expect(one('pglite-single', 'PersistentVolumeClaim').metadata.name).toBe(volume?.persistentVolumeClaim?.claimName);
    expect(env('pglite-single').has('VERITY_DATABASE_URL')).toBe(false);
  });

  it('postgres: three replicas rolled one at a time, the database URL from the Secret, a spool each', () => {
    const deployment = one('postgres', 'Deployment');
    expect(deployment.spec.replicas).toBe(3);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect(env('postgres').get('VERITY_DATABASE_URL')?.valueFrom.secretKeyRef).toEqual({ name: 'verity', key: 'database-url' });
    expect(container('postgres').args).not.toContain('--data');
    const spool: string = env('postgres').get('VERITY_AUDIT_SPOOL')?.value;
    expect(container('postgres').volumeMounts.map((m: Json) => m.mountPath)).toContain(spool);
  });
});

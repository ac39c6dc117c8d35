/** Test helpers: a real Verity server on a free port, and a small JSON-over-HTTP client. */
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { stringifyJson } from '@verity/core';
import { readPolicyFolder, startServer, type RunningServer, type StartServerOptions } from '@verity/server';

/** A fresh 256-bit token per test process (a chosen VERITY_ADMIN_TOKEN must be strong). */
export const ADMIN_TOKEN = `vrt_${randomBytes(32).toString('base64url')}`;

export function examplePath(name: string): string {
  return fileURLToPath(new URL(`../../examples/${name}`, import.meta.url));
}

export function interopPath(relative: string): string {
  return fileURLToPath(new URL(`../authzen-data/interop/${relative}`, import.meta.url));
}

export async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

export interface HttpAnswer<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface Client {
  url: string;
  request<T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<HttpAnswer<T>>;
  post<T = any>(path: string, body?: unknown, headers?: Record<string, string>): Promise<HttpAnswer<T>>;
  get<T = any>(path: string, headers?: Record<string, string>): Promise<HttpAnswer<T>>;
}

/** A client that sends `token` (or nothing, with null) as the bearer credential. */
export function createClient(url: string, token: string | null = ADMIN_TOKEN): Client {
  async function request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const response = await fetch(url + path, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      ...(body === undefined ? {} : { body: stringifyJson(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text), headers: response.headers };
  }
  return {
    url,
    request,
    post: (path, body, headers) => request('POST', path, body, headers),
    get: (path, headers) => request('GET', path, undefined, headers),
  };
}

/**
 * Where test servers log: one file per test process under `.test-logs/`, read after the run by
 * e2e/helpers/log-check.ts, which fails the run if any log line holds a credential or a JWT.
 */
export const TEST_LOG_DIR = fileURLToPath(new URL('../../.test-logs/', import.meta.url));
let logStream: WriteStream | undefined;

export function testLogStream(): WriteStream {
  if (!logStream) {
    mkdirSync(TEST_LOG_DIR, { recursive: true });
    logStream = createWriteStream(`${TEST_LOG_DIR}${process.pid}-${randomBytes(4).toString('hex')}.log`, { flags: 'a' });
  }
  return logStream;
}

/** A server for tests; its identity sources may use the loopback http issuers tests start (unless told otherwise). */
export async function startTestServer(options: StartServerOptions = {}): Promise<RunningServer & { admin: Client }> {
  const server = await startServer({ port: 0, dataDir: null, adminToken: ADMIN_TOKEN, print: () => {}, auditFlushMs: 5, allowInsecureIdentitySources: true, logStream: testLogStream(), ...options });
  return Object.assign(server, { admin: createClient(server.url) });
}

/** Create a tenant and push a policy-store folder (policies, then entities) over the admin API. */
export async function createTenantFromFolder(admin: Client, tenant: string, folder: string): Promise<void> {
  const policyFolder = await readPolicyFolder(folder);
  const created = await admin.post('/admin/v1/tenants', { id: tenant });
  if (created.status !== 201) throw new Error(`tenant ${tenant}: ${created.status} ${JSON.stringify(created.body)}`);
  const pushed = await admin.post(`/admin/v1/tenants/${tenant}/policies`, {
    files: policyFolder.files,
    links: policyFolder.links,
    validationMode: policyFolder.validationMode,
    ...(policyFolder.schema === undefined ? {} : { schema: policyFolder.schema }),
  });
  if (pushed.status !== 201) throw new Error(`push ${tenant}: ${pushed.status} ${JSON.stringify(pushed.body)}`);
  const imported = await admin.request('PUT', `/admin/v1/tenants/${tenant}/entities`, { entities: policyFolder.entities, mode: 'replace' });
  if (imported.status !== 200) throw new Error(`entities ${tenant}: ${imported.status} ${JSON.stringify(imported.body)}`);
}

/** Create a tenant whose policy store is one file of Cedar `policies`, over the admin API. */
export async function createTenantWithPolicies(admin: Client, tenant: string, policies: string): Promise<void> {
  const created = await admin.post('/admin/v1/tenants', { id: tenant });
  if (created.status !== 201) throw new Error(`tenant ${tenant}: ${created.status} ${JSON.stringify(created.body)}`);
  const pushed = await admin.post(`/admin/v1/tenants/${tenant}/policies`, { files: { 'policies.cedar': policies } });
  if (pushed.status !== 201) throw new Error(`push ${tenant}: ${pushed.status} ${JSON.stringify(pushed.body)}`);
}

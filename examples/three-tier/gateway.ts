/**
 * Tier 1, the gateway. The tenant is chosen by host name (`acme.orders.localhost`), so the
 * gateway knows which tenant's PDP to ask; that tenant's PDP then accepts only its own users'
 * tokens. Three gateways:
 *
 * - nginx with `auth_request` to Verity's `/tenants/{t}/gateway/v1/nginx` (docs/gateways.md),
 *   when nginx is installed: `nginxConfig` writes its config, `startNginxGateway` runs it;
 * - a Node gateway doing the same with the enforcement SDK, when nginx is absent;
 * - a compromised gateway that forwards everything without asking (for the attack script).
 *
 * Every gateway calls the orders service over mTLS as the workload
 * `spiffe://platform.verity.internal/gateway`, with the SVID its Workload API gives it (the
 * compromised one too: it is the gateway, compromised). The Node gateways use `createMtlsAgent`,
 * which accepts only the orders service's SPIFFE id; nginx presents the SVID from files.
 *
 * The two honest gateways send the allowed request on with the edge's Txn-Token
 * (draft-ietf-oauth-transaction-tokens): nginx gets it in the answer of Verity's gateway endpoint
 * (it sends the gateway's JWT-SVID as `X-Verity-Client-Assertion`), the Node gateway asks the
 * tenant's token service itself (`createTxnTokenRequester`). Its `tctx` names the gateway's
 * decision; every tier behind verifies it and is audited under its `txn`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { chmod, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { request as undiciRequest, type Dispatcher } from 'undici';
import { bearerToken, createEnforcer, createRemoteDecisionSource, createTxnTokenRequester, downstreamHeaders, refusalBody, requestIdOf, type Enforcer, type TokenExchangeError, type TxnTokenRequester } from '@verity/enforce';
import type { WorkloadApiSource } from '@verity/workload';
import { ORDERS_AUDIENCE, TENANTS, trustDomainOf, type Tenant } from './tenancy.js';
import { ordersDispatcher } from './workloads.js';

/** The public routes, as the tenants' `settings.gatewayRoutes` list them. */
export const GATEWAY_ROUTES = ['/orders', '/orders/{orderId}'];
export const hostOf = (tenant: Tenant): string => `${tenant}.orders.localhost`;

export interface RunningGateway {
  kind: 'nginx' | 'node' | 'compromised';
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface GatewayOptions {
  pdpUrl: string;
  /** The orders service (the upstream). */
  upstreamUrl: string;
  /** Each tenant's `pep` credential for the gateway. */
  credentials: Record<Tenant, string>;
  /** The gateway workload's Workload API: the SVID it presents to the orders service. */
  source: WorkloadApiSource;
}

// ---------------------------------------------------------------- nginx

/** The nginx binary: on PATH, or in the usual sbin folders; undefined when not installed. */
export function findNginx(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).stdout.trim();
  for (const path of [found, '/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx']) {
    if (path === '') continue;
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The `http { … }` content for nginx in front of the orders service: every request is decided by
 * the host's tenant (auth_request), identity headers come only from Verity's answer, a client's
 * tenant header never passes, and one request id runs through nginx, Verity and the service.
 */
export function nginxConfig(options: { port: number; pdpUrl: string; upstreamUrl: string; credentials: Record<Tenant, string>; svidDir: string }): string {
  const hostPort = (url: string) => new URL(url).host;
  return `
  # $verity_assertion: the gateway's JWT-SVID for the host tenant's token endpoint, rewritten
  # (and nginx reloaded) before it expires.
  include ${options.svidDir}/assertions.conf;
  map $host $verity_tenant {
    default "";
${TENANTS.map((tenant) => `    ${hostOf(tenant)} ${tenant};`).join('\n')}
  }
  map $verity_tenant $verity_credential {
    default "";
${TENANTS.map((tenant) => `    ${tenant} "Bearer ${options.credentials[tenant]}";`).join('\n')}
  }
  # The client's request id when it sent one, else nginx's own.
  map $http_x_request_id $rid {
    "" $request_id;
    default $http_x_request_id;
  }
  upstream verity { server ${hostPort(options.pdpUrl)}; }
  upstream orders { server ${hostPort(options.upstreamUrl)}; }

  server {
    listen 127.0.0.1:${options.port};
    if ($verity_tenant = "") { return 404; }

    location / {
      auth_request /_verity;
      auth_request_set $verity_subject  $upstream_http_x_verity_subject;
      auth_request_set $verity_decision $upstream_http_x_verity_decision_id;
      # The edge's Txn-Token, from Verity's answer; a client's own Txn-Token header never passes.
      auth_request_set $verity_txn_token $upstream_http_txn_token;
      proxy_set_header X-Verity-Subject     $verity_subject;
      proxy_set_header X-Verity-Decision-Id $verity_decision;
      proxy_set_header Txn-Token            $verity_txn_token;
      proxy_set_header X-Tenant-Id "";
      proxy_set_header X-User-Id "";
      proxy_set_header X-Request-ID $rid;
      # A client's caller header never passes (the orders service would deny it as forged).
      proxy_set_header X-Forwarded-Client-Cert "";
      # mTLS to the orders service with the gateway's X.509-SVID, from its Workload API.
      proxy_pass https://orders;
      proxy_ssl_certificate     ${options.svidDir}/svid.pem;
      proxy_ssl_certificate_key ${options.svidDir}/key.pem;
      proxy_ssl_trusted_certificate ${options.svidDir}/bundle.pem;
      # nginx can check the chain but not a SPIFFE id (a URI SAN), so it does not verify the
      # server here; the orders service verifies nginx's SVID strictly
      # (docs/workload-identity.md, "nginx as a client").
      proxy_ssl_verify off;
      proxy_ssl_protocols TLSv1.2 TLSv1.3;
      proxy_ssl_session_reuse off;
    }

    location = /_verity {
      internal;
      proxy_pass http://verity/tenants/$verity_tenant/gateway/v1/nginx;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URI    $request_uri;
      proxy_set_header X-Request-ID      $rid;
      proxy_set_header X-Real-IP         $remote_addr;
      proxy_set_header X-Verity-Credential $verity_credential;
      # The gateway workload asks for the edge's Txn-Token with its JWT-SVID.
      proxy_set_header X-Verity-Client-Assertion $verity_assertion;
    }
  }`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/**
 * The gateway's SVID as files for nginx, like `verity workload svid --out DIR`: `svid.pem` (the
 * chain), `key.pem` (0600), `bundle.pem` (the trust bundle's roots). Each written whole, then renamed.
 */
async function writeSvidFiles(source: WorkloadApiSource, dir: string): Promise<void> {
  const { svid, bundle } = source.current();
  const put = async (name: string, text: string) => {
    const temporary = join(dir, `.${name}.tmp`);
    await writeFile(temporary, text, { mode: 0o600 });
    await chmod(temporary, 0o600);
    await rename(temporary, join(dir, name));
  };
  await put('key.pem', svid.privateKeyPem);
  await put('svid.pem', svid.certChainPem.join('\n'));
  await put('bundle.pem', bundle.x509Authorities.join('\n'));
}

/** The tenant's token endpoint: the audience of the JWT-SVID the gateway asks for its Txn-Token with. */
const tokenEndpointOf = (pdpUrl: string, tenant: Tenant) => `${pdpUrl}/tenants/${tenant}/oauth2/token`;

/**
 * `assertions.conf`: a map from the host's tenant to a fresh JWT-SVID of the gateway for that
 * tenant's token endpoint (one audience each), written whole, then renamed. Returns when the
 * soonest of them expires (epoch ms).
 */
async function writeAssertions(source: WorkloadApiSource, dir: string, pdpUrl: string): Promise<number> {
  const entries: string[] = [];
  let expiresAtMs = Infinity;
  for (const tenant of TENANTS) {
    const svid = await source.jwtSvid([tokenEndpointOf(pdpUrl, tenant)]);
    expiresAtMs = Math.min(expiresAtMs, svid.expiresAtMs);
    entries.push(`    ${tenant} "${svid.token}";`);
  }
  const temporary = join(dir, '.assertions.conf.tmp');
  await writeFile(temporary, `map $verity_tenant $verity_assertion {\n    default "";\n${entries.join('\n')}\n}\n`, { mode: 0o600 });
  await rename(temporary, join(dir, 'assertions.conf'));
  return expiresAtMs;
}

/** nginx in the foreground, its config, logs, temp files and SVID files in a temporary folder. */
export async function startNginxGateway(binary: string, options: GatewayOptions): Promise<RunningGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'verity-three-tier-nginx-'));
  await writeSvidFiles(options.source, dir);
  let assertionsExpireAtMs = await writeAssertions(options.source, dir, options.pdpUrl);
  const port = await freePort();
  const config = join(dir, 'nginx.conf');
  await writeFile(
    config,
    `${process.getuid?.() === 0 ? `user ${userInfo().username};` : ''}
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/client-body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${nginxConfig({ port, ...options, svidDir: dir })}
}
`,
  );
  const args = ['-p', dir, '-c', config, '-e', join(dir, 'error.log')];
  const checked = spawnSync(binary, ['-t', ...args], { encoding: 'utf8' });
  if (checked.status !== 0) throw new Error(`nginx -t refused the config:\n${checked.stderr}`);
  const child: ChildProcess = spawn(binary, [...args, '-g', 'daemon off;'], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx did not start: ${await readFile(join(dir, 'error.log'), 'utf8').catch(() => '')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // A renewed SVID (at half-life) or a new bundle: rewrite the files, then reload nginx (SIGHUP),
  // as SPIRE's spiffe-helper does; the old workers finish their requests.
  let writing = Promise.resolve();
  const unsubscribe = options.source.subscribe(() => {
    writing = writing.then(() => writeSvidFiles(options.source, dir)).then(() => void child.kill('SIGHUP')).catch(() => {});
  });
  // The JWT-SVIDs (five minutes by default) likewise, at half their remaining life.
  let refresh: NodeJS.Timeout | undefined;
  const scheduleAssertions = () => {
    refresh = setTimeout(() => {
      writing = writing
        .then(async () => {
          assertionsExpireAtMs = await writeAssertions(options.source, dir, options.pdpUrl);
          child.kill('SIGHUP');
        })
        .catch(() => {})
        .finally(scheduleAssertions);
    }, Math.max(1000, (assertionsExpireAtMs - Date.now()) / 2));
    refresh.unref();
  };
  scheduleAssertions();
  return {
    kind: 'nginx',
    url: `http://127.0.0.1:${port}`,
    port,
    async close() {
      unsubscribe();
      clearTimeout(refresh);
      await writing;
      clearTimeout(refresh);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- Node gateways

/** The route template a path matches (`/orders/o-1` → `/orders/{orderId}`), with its params. */
function matchRoute(path: string): { template: string; params: Record<string, string> } | undefined {
  if (path === '/orders') return { template: '/orders', params: {} };
  const match = /^\/orders\/([A-Za-z0-9._~-]+)$/.exec(path);
  return match ? { template: '/orders/{orderId}', params: { orderId: match[1] as string } } : undefined;
}

function tenantOfHost(request: IncomingMessage): Tenant | undefined {
  const host = (request.headers.host ?? '').replace(/:\d+$/, '');
  return TENANTS.find((tenant) => hostOf(tenant) === host);
}

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}

/** Forward to the upstream over mTLS (`dispatcher`) with `headers`, and relay its answer. */
async function forward(request: IncomingMessage, response: ServerResponse, upstreamUrl: string, dispatcher: Dispatcher, headers: Record<string, string>): Promise<void> {
  const answer = await undiciRequest(upstreamUrl + (request.url ?? '/'), { method: (request.method ?? 'GET') as Dispatcher.HttpMethod, headers, dispatcher });
  const relayed: Record<string, string> = {};
  for (const name of ['content-type', 'www-authenticate', 'x-request-id']) {
    const value = answer.headers[name];
    if (typeof value === 'string') relayed[name] = value;
  }
  response.writeHead(answer.statusCode, relayed).end(Buffer.from(await answer.body.arrayBuffer()));
}

async function listen(kind: RunningGateway['kind'], handler: (request: IncomingMessage, response: ServerResponse) => Promise<void>, dispatcher: Dispatcher): Promise<RunningGateway> {
  const server: Server = createServer((request, response) => {
    handler(request, response).catch(() => {
      if (!response.headersSent) send(response, 502, { code: 'ERR_GATEWAY', message: 'the upstream failed' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    kind,
    url: `http://127.0.0.1:${port}`,
    port,
    async close() {
      await new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve())));
      await dispatcher.destroy();
    },
  };
}

/**
 * The Node gateway (when nginx is absent): the same decision nginx gets from Verity's gateway
 * endpoint — the method on the route template, with the path and params as context — asked with
 * the SDK (tier `gateway`), then the caller's token and request id passed on, nothing else.
 */
export function startNodeGateway(options: GatewayOptions): Promise<RunningGateway> {
  const enforcers = {} as Record<Tenant, Enforcer>;
  const txnTokens = {} as Record<Tenant, TxnTokenRequester>;
  for (const tenant of TENANTS) {
    const source = createRemoteDecisionSource({ url: options.pdpUrl, credential: options.credentials[tenant], timeoutMs: 2000 });
    // The audience nginx's gateway endpoint binds too (the tenants' settings.gatewayAudience).
    enforcers[tenant] = createEnforcer({ source, tenant, audience: ORDERS_AUDIENCE, tier: 'gateway' });
    // The edge's Txn-Token, asked with the gateway's JWT-SVID (as Verity's gateway endpoint mints it for nginx).
    txnTokens[tenant] = createTxnTokenRequester({
      url: options.pdpUrl,
      tenant,
      trustDomain: trustDomainOf(tenant),
      tier: 'sts',
      timeoutMs: 2000,
      jwtSvid: async (audience) => (await options.source.jwtSvid([audience])).token,
    });
  }
  const dispatcher = ordersDispatcher(options.source);
  return listen('node', async (request, response) => {
    const tenant = tenantOfHost(request);
    const requestId = requestIdOf(typeof request.headers['x-request-id'] === 'string' ? request.headers['x-request-id'] : undefined);
    if (tenant === undefined) return send(response, 404, { code: 'ERR_NOT_FOUND', message: 'unknown host' });
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const route = matchRoute(path);
    // Like Verity's gateway endpoint: a path no template matches is refused, not guessed at.
    if (route === undefined) return send(response, 403, { code: 'ERR_ENFORCE_DENIED', message: 'no such route' }, { 'x-request-id': requestId });
    const token = bearerToken(request.headers);
    const result = await enforcers[tenant].enforce({
      ...(token === undefined ? {} : { token }),
      requestId,
      action: request.method ?? 'GET',
      resource: { type: 'route', id: route.template },
      context: { path, params: route.params },
    });
    if (!result.allowed) {
      const challenge: Record<string, string> = result.status === 401 ? { 'www-authenticate': 'Bearer' } : {};
      return send(response, result.status, refusalBody(result), { 'x-request-id': requestId, ...challenge });
    }
    const traceparent = typeof request.headers.traceparent === 'string' ? request.headers.traceparent : undefined;
    let txnToken: string;
    try {
      const decided = result.decision;
      const details = decided?.decisionId && decided.policyVersion ? { decision_id: decided.decisionId, policy_version: decided.policyVersion } : {};
      txnToken = await txnTokens[tenant].request(token as string, { requestId, details });
    } catch (error) {
      // No Txn-Token, no call: the request does not go on without its transaction (fail closed).
      const failure = error as TokenExchangeError;
      return send(response, 403, { code: failure.code, message: 'no Txn-Token for this request' }, { 'x-request-id': requestId });
    }
    // The next tier gets the caller's own token, the Txn-Token and the request id: it decides again itself.
    await forward(request, response, options.upstreamUrl, dispatcher, { accept: 'application/json', ...downstreamHeaders({ ...(token === undefined ? {} : { token }), txnToken, requestId, ...(traceparent === undefined ? {} : { traceparent }) }) });
  }, dispatcher);
}

/**
 * Tier 1 compromised: forwards every request with every header the client sent, forged ones
 * included, without asking anyone. It holds the gateway's SVID (an attacker who owns the gateway
 * has its Workload API), so the orders service sees the gateway as its caller; what it lets
 * through is the next tier's problem.
 */
export function startCompromisedGateway(options: { upstreamUrl: string; source: WorkloadApiSource }): Promise<RunningGateway> {
  const dispatcher = ordersDispatcher(options.source);
  return listen('compromised', async (request, response) => {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) if (typeof value === 'string' && name !== 'host' && name !== 'connection') headers[name] = value;
    await forward(request, response, options.upstreamUrl, dispatcher, headers);
  }, dispatcher);
}

/** nginx when installed (unless `prefer` is `node`), else the Node gateway. */
export async function startGateway(options: GatewayOptions & { prefer?: 'nginx' | 'node' }): Promise<RunningGateway> {
  const binary = options.prefer === 'node' ? undefined : findNginx();
  return binary ? startNginxGateway(binary, options) : startNodeGateway(options);
}

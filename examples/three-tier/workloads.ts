/**
 * The services' own identities: the tenant `platform` (trust domain `platform.verity.internal`)
 * registers the workloads gateway, orders and reports (join-token attestation, default
 * lifetimes). Each gets an in-process workload agent that attests with a one-time join token,
 * renews its X.509-SVID at half-life and serves the Workload API on a Unix socket (0600) in a
 * temporary folder; each service reads its SVID and the trust bundle from that socket
 * (`createWorkloadApiSource`), as it would from `verity workload agent` in production.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createMtlsAgent,
  createWorkloadAgent,
  createWorkloadApiSource,
  serveWorkloadApi,
  type WorkloadAgent,
  type WorkloadApiServer,
  type WorkloadApiSource,
} from '@verity/workload';

/** The tenant that owns the services' identities (not a customer tenant). */
export const PLATFORM_TENANT = 'platform';
export const TRUST_DOMAIN = 'platform.verity.internal';
export const WORKLOADS = ['gateway', 'orders', 'reports'] as const;
export type WorkloadName = (typeof WORKLOADS)[number];
export const spiffeIdOf = (name: WorkloadName): string => `spiffe://${TRUST_DOMAIN}/${name}`;
export const GATEWAY_ID = spiffeIdOf('gateway');
export const ORDERS_ID = spiffeIdOf('orders');
export const REPORTS_ID = spiffeIdOf('reports');

type Admin = <T = unknown>(method: string, path: string, body?: unknown) => Promise<{ status: number; body: T }>;

export interface Workloads {
  /** Each workload's view of its Workload API: its current SVID, the bundle and the deny list. */
  sources: Record<WorkloadName, WorkloadApiSource>;
  /** Each Workload API's socket. */
  sockets: Record<WorkloadName, string>;
  close(): Promise<void>;
}

/** Creates the platform tenant, registers the workloads and starts one agent and socket per workload. */
export async function startWorkloads(pdpUrl: string, admin: Admin): Promise<Workloads> {
  const must = async <T>(what: string, answer: Promise<{ status: number; body: T }>, status: number): Promise<T> => {
    const { status: got, body } = await answer;
    if (got !== status) throw new Error(`${what}: ${got} ${JSON.stringify(body)}`);
    return body;
  };
  const dir = await mkdtemp(join(tmpdir(), 'verity-three-tier-workloads-'));
  const agents: WorkloadAgent[] = [];
  const apis: WorkloadApiServer[] = [];
  const opened: WorkloadApiSource[] = [];
  const close = async () => {
    for (const source of opened) await source.close().catch(() => {});
    for (const api of apis) await api.close().catch(() => {});
    for (const agent of agents) await agent.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await must('create platform', admin('POST', '/admin/v1/tenants', { id: PLATFORM_TENANT }), 201);
    // The agents read the tenant's deny list with a PEP credential: a removed workload is
    // refused by every mTLS peer at once, not only when its SVID expires.
    const { token: pepCredential } = await must<{ token: string }>('agents\' credential', admin('POST', `/admin/v1/tenants/${PLATFORM_TENANT}/credentials`, { role: 'pep', label: 'three-tier workload agents' }), 201);
    const sources = {} as Record<WorkloadName, WorkloadApiSource>;
    const sockets = {} as Record<WorkloadName, string>;
    for (const name of WORKLOADS) {
      const registered = await must<{ id: string }>(`register ${name}`, admin('POST', `/admin/v1/tenants/${PLATFORM_TENANT}/workloads`, { spiffe_id: spiffeIdOf(name), attestor: 'join_token' }), 201);
      const { join_token: joinToken } = await must<{ join_token: string }>(`join token of ${name}`, admin('POST', `/admin/v1/tenants/${PLATFORM_TENANT}/workloads/${registered.id}/join-tokens`, {}), 201);
      const agent = createWorkloadAgent({ pdpUrl, tenant: PLATFORM_TENANT, attestation: { attestor: 'join_token', joinToken }, pepCredential, pollIntervalMs: 1000 });
      agents.push(agent);
      await agent.start();
      sockets[name] = join(dir, `${name}.sock`);
      apis.push(await serveWorkloadApi({ socketPath: sockets[name], agent }));
      const source = createWorkloadApiSource({ socketPath: sockets[name] });
      opened.push(source);
      await source.ready();
      sources[name] = source;
    }
    return { sources, sockets, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** An undici dispatcher presenting `source`'s SVID and accepting only the orders service. */
export const ordersDispatcher = (source: WorkloadApiSource) => createMtlsAgent({ source, expectServerId: ORDERS_ID });

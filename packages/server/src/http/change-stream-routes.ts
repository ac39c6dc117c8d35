/**
 * The server-sent change stream a PEP follows: one `change` event per policy, entity,
 * identity, revocation, settings or workload change of the tenant, from whichever replica made it. A PEP that
 * caches decisions drops what the event names (and, for revocations, denies the token).
 */
import type { FastifyInstance } from 'fastify';
import { requireDecide, tenantParam, type Components } from './context.js';

/** Comment lines keep idle connections (and proxies in between) from timing out. */
const HEARTBEAT_MS = 15_000;

export function registerChangeStreamRoutes(app: FastifyInstance, c: Components): void {
  // Open streams end when the server closes; otherwise they would hold the close forever.
  const open = new Set<() => void>();
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
    for (const end of open) end();
  });

  app.get('/tenants/:tenant/changes', async (request, reply) => {
    const tenant = tenantParam(request, { write: false });
    // A replica whose own feed is stale has nothing trustworthy to forward: the follower should
    // find another replica (or count the time as lost contact), not wait on this one. First, so
    // the answer does not wait on a store that may be what is unreachable.
    c.freshness.assertFresh(tenant, 0);
    await requireDecide(c, request, tenant);
    await c.tenants.get(tenant);
    // A stream whose checks finished after the server began closing would be opened after
    // preClose ended the others, and hold the close forever; one whose client already left
    // would never see its 'close'.
    // (The follower reconnects, with backoff, to whichever replica answers next.)
    if (closing || request.raw.destroyed) return reply.code(503).header('retry-after', '1').send();
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-request-id': request.id });
    raw.write(`: verity change stream for ${tenant}\n\n`);
    let sequence = 0;
    const unsubscribe = c.changes.subscribe((change) => {
      // `activity` is between replicas only (every few hundred ms while subjects are active): PEPs cache nothing it changes.
      if (change.tenant !== tenant || change.kind === 'activity') return;
      raw.write(`id: ${++sequence}\nevent: change\ndata: ${JSON.stringify(change)}\n\n`);
    });
    // Checked at half the staleness bound (PostgreSQL): a stream from a replica gone stale ends,
    // so the follower notices within about the bound instead of hearing heartbeats from it.
    const tickMs = Math.min(HEARTBEAT_MS, Math.max(100, c.freshness.maxStalenessMs / 2));
    let sinceHeartbeat = 0;
    const heartbeat = setInterval(() => {
      if (!c.freshness.report().fresh) return end();
      sinceHeartbeat += tickMs;
      if (sinceHeartbeat < HEARTBEAT_MS) return;
      sinceHeartbeat = 0;
      raw.write(': heartbeat\n\n');
    }, tickMs);
    heartbeat.unref();
    const stop = () => {
      clearInterval(heartbeat);
      unsubscribe();
      open.delete(end);
    };
    const end = () => {
      stop();
      raw.end();
    };
    open.add(end);
    request.raw.on('close', stop);
    raw.on('error', stop);
  });
}

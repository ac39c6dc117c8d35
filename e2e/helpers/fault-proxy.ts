/** A TCP proxy for fault-injection tests: forwards, refuses, resets or black-holes connections on demand. */
import net from 'node:net';

/** What the proxy does with traffic; see {@link FaultProxy.mode}. */
export type FaultMode = 'pass' | 'refuse' | 'reset' | 'blackhole';

export interface FaultProxy {
  /** The local port the proxy listens on (127.0.0.1). */
  port: number;
  /** `databaseUrl` with its host and port replaced by the proxy's (credentials and path kept). */
  url(databaseUrl: string): string;
  /**
   * - `pass`: forward in both directions (and resume what a blackhole held).
   * - `refuse`: new connections are closed at once; open ones keep working.
   * - `reset`: destroy every open connection now (the peer sees ECONNRESET) and refuse new ones
   *   the same way until `mode('pass')`.
   * - `blackhole`: keep sockets open but forward nothing in either direction (a paused network);
   *   new connections are accepted and held. Everything resumes on `mode('pass')`.
   */
  mode(mode: FaultMode): void;
  /** Open client-side sockets (connections accepted and not yet closed). */
  connections(): number;
  /** Stop listening and destroy every connection. */
  close(): Promise<void>;
}

export interface StartFaultProxyOptions {
  target: { host: string; port: number };
}

/** One proxied connection: the accepted client socket and, once connected, the upstream one. */
interface Link {
  client: net.Socket;
  upstream: net.Socket | null;
}

/**
 * Start a proxy on 127.0.0.1 (a free port) in front of `target`.
 *
 * @example
 * const proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: 5432 } });
 * const db = await createPostgresDatabase({ connectionString: proxy.url(process.env.DATABASE_URL!) });
 * proxy.mode('reset'); // every open connection dies with ECONNRESET
 */
export async function startFaultProxy(options: StartFaultProxyOptions): Promise<FaultProxy> {
  const { target } = options;
  const links = new Set<Link>();
  let current: FaultMode = 'pass';

  const reset = (socket: net.Socket | null): void => {
    if (socket === null || socket.destroyed) return;
    // RST rather than FIN, so the peer sees ECONNRESET as when a link or a server dies.
    socket.resetAndDestroy();
  };

  const forward = (from: net.Socket, to: net.Socket): void => {
    from.on('data', (chunk: Buffer) => {
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => {
          if (current !== 'blackhole') from.resume();
        });
      }
    });
  };

  const connectUpstream = (link: Link): void => {
    const upstream = net.connect(target.port, target.host);
    link.upstream = upstream;
    forward(link.client, upstream);
    forward(upstream, link.client);
    // The target failing resets the client; the target closing closes it.
    upstream.on('error', () => reset(link.client));
    upstream.on('close', () => link.client.destroy());
    if (current === 'blackhole') upstream.pause();
    else link.client.resume();
  };

  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    if (current === 'refuse') return void client.destroy();
    if (current === 'reset') return void reset(client);
    const link: Link = { client, upstream: null };
    links.add(link);
    client.on('error', () => reset(link.upstream));
    client.on('close', () => {
      links.delete(link);
      link.upstream?.destroy();
    });
    // In a blackhole the upstream connection is made only when traffic may flow again.
    if (current === 'pass') connectUpstream(link);
  });
  server.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    url(databaseUrl) {
      const url = new URL(databaseUrl);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      return url.toString();
    },
    mode(mode) {
      current = mode;
      for (const link of [...links]) {
        if (mode === 'reset') {
          links.delete(link);
          reset(link.client);
          reset(link.upstream);
        } else if (mode === 'blackhole') {
          link.client.pause();
          link.upstream?.pause();
        } else if (mode === 'pass') {
          if (link.upstream === null) connectUpstream(link);
          else {
            link.client.resume();
            link.upstream.resume();
          }
        }
      }
    },
    connections: () => links.size,
    async close() {
      current = 'refuse';
      for (const link of links) {
        link.client.destroy();
        link.upstream?.destroy();
      }
      links.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

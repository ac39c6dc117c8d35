/** LISTEN on PostgreSQL over a dedicated connection that keeps itself alive (the change feed's transport). */
import pg from 'pg';
import { destroyClient, isConnectionError, unavailable, waitAtMost } from './postgres-faults.js';
import type { Listener } from './types.js';

export interface ListenPostgresOptions {
  /** Connection settings, timeouts included (those of the pool). */
  clientConfig: pg.ClientConfig;
  /** Bound on the goodbye in `close()`, in milliseconds. */
  timeoutMs: number;
  channel: string;
  onPayload: (payload: string) => void;
}

/** Reconnect delays: exponential from 100 ms, capped at 5 s, each with up to half of it as jitter. */
const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5000;

function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(attempt, 16));
  // Jitter spreads the replicas' reconnects when the database comes back.
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * LISTEN on a dedicated connection (a pooled one would be handed to other queries). When it
 * fails, is cut, or `reset()` is called, it is destroyed and a new one is opened with capped
 * exponential backoff, for as long as the listener is open; each time a new one listens,
 * `onPayload('')` tells the caller that notifications may have been missed. Rejects with
 * ERR_STORE_UNAVAILABLE when the first connection cannot be made.
 */
export async function listenPostgres(options: ListenPostgresOptions): Promise<Listener> {
  const { channel } = options;
  // Called from pg's event handlers and the reconnect loop: a throw there would end the process.
  const onPayload = (payload: string): void => {
    try {
      options.onPayload(payload);
    } catch (error) {
      process.emitWarning(error instanceof Error ? error : new Error(String(error)));
    }
  };
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) throw new TypeError(`listen: invalid channel name "${channel}"`);
  /** The connection that listens now; null while reconnecting. */
  let current: pg.Client | null = null;
  /** Every client made and not yet destroyed (the current one, one being opened). */
  const open = new Set<pg.Client>();
  let stopped = false;
  let reconnecting = false;
  let wake: (() => void) | null = null;

  const discard = (client: pg.Client): void => {
    if (!open.delete(client)) return;
    destroyClient(client);
    if (client === current) {
      current = null;
      void reconnect();
    }
  };

  const connect = async (): Promise<pg.Client> => {
    const client = new pg.Client(options.clientConfig);
    open.add(client);
    // Listeners for the client's whole life: a fault is handled here, never by the process.
    client.on('error', () => discard(client));
    client.on('end', () => discard(client));
    client.on('notification', (message) => {
      if (client === current && message.channel === channel) onPayload(message.payload ?? '');
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${channel}`);
    } catch (error) {
      discard(client);
      throw error;
    }
    // Cut while LISTEN was being answered, or closed meanwhile: not usable.
    if (!open.has(client) || stopped) {
      discard(client);
      throw new Error('the LISTEN connection closed while it was being opened');
    }
    return client;
  };

  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done(): void {
        clearTimeout(timer);
        wake = null;
        resolve();
      }
      wake = done;
    });

  async function reconnect(): Promise<void> {
    if (stopped || reconnecting) return;
    reconnecting = true;
    for (let attempt = 0; !stopped; attempt++) {
      await pause(retryDelayMs(attempt));
      if (stopped) break;
      const client = await connect().catch(() => null);
      if (client === null) continue;
      current = client;
      reconnecting = false;
      onPayload('');
      return;
    }
    reconnecting = false;
  }

  current = await connect().catch((error: unknown) => {
    throw unavailable(error);
  });

  return {
    async notify(payload) {
      const client = current;
      if (client === null) throw unavailable(new Error('the LISTEN connection is down (reconnecting)'));
      try {
        await client.query('SELECT pg_notify($1, $2)', [channel, payload]);
      } catch (error) {
        if (!isConnectionError(error)) throw error;
        // A query that timed out may still be running on it: this connection is done.
        discard(client);
        throw unavailable(error);
      }
    },
    reset() {
      if (current !== null) discard(current);
    },
    async close() {
      stopped = true;
      wake?.();
      const client = current;
      current = null;
      if (client !== null && open.delete(client)) {
        // A polite goodbye (the server logs no "unexpected EOF"), bounded: a paused link never answers it.
        await waitAtMost(client.end(), options.timeoutMs);
        destroyClient(client);
      }
      for (const other of [...open]) discard(other);
    },
  };
}

/**
 * One database shared by the processes of one `verity serve --workers N`: the primary holds the
 * database (the PGlite data folder and its lock), and each worker process reaches it through
 * this relay over its IPC channel. The worker side is a whole {@link Database}: queries,
 * transactions, the audit append and LISTEN/NOTIFY (the change feed between workers).
 *
 * Wire (objects under the key `verityDb`, so other IPC traffic passes by):
 * - worker → primary: `{verityDb: 'call', id, op, …}` with `op` one of `query {sql, params, tx?}`,
 *   `begin`, `end {tx, commit}`, `appendAudit {records, skipExisting}`, `listen {channel}`,
 *   `unlisten {listener}`, `notify {listener, payload}`, `barrier`; and `{verityDb: 'pong', id}`.
 * - primary → worker: `{verityDb: 'reply', id, ok, value | error}`, `{verityDb: 'notify',
 *   listener, payload}`, `{verityDb: 'ping', id}`.
 *
 * The channel must carry structured clones (`cluster.setupPrimary({serialization: 'advanced'})`),
 * so rows keep their Dates and byte arrays.
 */
import { ERROR_CODES, VerityError, type ErrorCode } from '@verity/core';
import type { DecisionRecord } from '@verity/core';
import type { Database, Listener, SqlClient } from './types.js';
import { rebuildError, transactionOverCalls, type WireError } from './worker-host.js';
import { serializeError } from './worker-wire.mjs';

/** A message channel to one other process: a `cluster` worker seen from the primary, or `process` in the worker. */
export interface ProcessChannel {
  send(message: unknown): void;
  /** Subscribe; returns the unsubscribe function. */
  onMessage(handler: (message: unknown) => void): () => void;
}

/** How long a barrier waits for a worker that does not answer (ms); freshness bounds the rest. */
export const BARRIER_WAIT_MS = 2000;

type Call =
  | { op: 'query'; sql: string; params?: unknown[]; tx?: number }
  | { op: 'begin' }
  | { op: 'end'; tx: number; commit: boolean }
  | { op: 'appendAudit'; records: DecisionRecord[]; skipExisting: boolean }
  | { op: 'listen'; channel: string }
  | { op: 'unlisten'; listener: number }
  | { op: 'notify'; listener: number; payload: string }
  | { op: 'barrier' };

interface Envelope {
  verityDb: 'call' | 'reply' | 'notify' | 'ping' | 'pong';
  id?: number;
}

function isEnvelope(message: unknown): message is Envelope & Record<string, unknown> {
  return typeof message === 'object' && message !== null && typeof (message as Envelope).verityDb === 'string';
}

/** The primary's side: serves one database to any number of worker channels. */
export interface DatabaseRelay {
  /**
   * Serve `channel` (one worker process). Returns `detach`: call it when that process is gone;
   * it rolls back the transactions it left open and drops its listeners (bounded: never waits
   * on the worker).
   */
  attach(channel: ProcessChannel): () => Promise<void>;
}

/**
 * Serve `db` (held by this process, the primary) to worker processes. A `barrier` call from one
 * worker resolves once every other attached worker has answered a ping sent after everything
 * relayed to it before (so a NOTIFY published before the barrier has been handled there), or
 * after {@link BARRIER_WAIT_MS}.
 */
export function createDatabaseRelay(db: Database): DatabaseRelay {
  const attached = new Set<{ channel: ProcessChannel; pings: Map<number, () => void> }>();
  let nextPing = 1;
  const appendAudit = groupAppends(db);

  const barrier = (from: ProcessChannel): Promise<void> =>
    Promise.all(
      [...attached]
        .filter((peer) => peer.channel !== from)
        .map(
          (peer) =>
            new Promise<void>((resolve) => {
              const id = nextPing++;
              const timer = setTimeout(() => (peer.pings.delete(id), resolve()), BARRIER_WAIT_MS);
              peer.pings.set(id, () => (clearTimeout(timer), resolve()));
              try {
                peer.channel.send({ verityDb: 'ping', id });
              } catch {
                peer.pings.get(id)?.();
              }
            }),
        ),
    ).then(() => undefined);

  return {
    attach(channel) {
      const peer = { channel, pings: new Map<number, () => void>() };
      attached.add(peer);
      /** Open transactions of this worker: tx id → how to end it. */
      const transactions = new Map<number, { client: SqlClient; end: (commit: boolean) => Promise<void> }>();
      const listeners = new Map<number, Listener & { close(): Promise<void> }>();
      let nextTx = 1;
      let nextListener = 1;
      let gone = false;

      const send = (message: unknown): void => {
        if (gone) return;
        try {
          channel.send(message);
        } catch {
          // The worker is gone; its exit detaches it.
        }
      };

      const begin = (): Promise<number> =>
        new Promise<number>((started, failed) => {
          const tx = nextTx++;
          let begun = false;
          // Settles when the transaction ends: committed, or rejected (a failed commit, or the rollback asked for).
          const outcome: Promise<void> = db.transaction(
            (client) =>
              new Promise<void>((commit, rollback) => {
                begun = true;
                // The worker died while its transaction waited for the connection: end it at once.
                if (gone) {
                  const error = new VerityError('ERR_STORE_UNAVAILABLE', 'the shared store: the worker is gone');
                  failed(error);
                  return rollback(error);
                }
                transactions.set(tx, {
                  client,
                  end: (yes) => {
                    transactions.delete(tx);
                    if (yes) commit();
                    else rollback(new Error('rolled back'));
                    return outcome;
                  },
                });
                started(tx);
              }),
          );
          outcome.catch((error: unknown) => void (begun ? undefined : failed(error)));
        });

      const run = async (call: Call): Promise<unknown> => {
        switch (call.op) {
          case 'query': {
            const client = call.tx === undefined ? db : transactions.get(call.tx)?.client;
            if (client === undefined) throw new VerityError('ERR_STORE_UNAVAILABLE', 'the shared store: no such open transaction');
            return (await client.query(call.sql, call.params)).rows;
          }
          case 'begin':
            return begin();
          case 'end': {
            const transaction = transactions.get(call.tx);
            if (transaction === undefined) throw new VerityError('ERR_STORE_UNAVAILABLE', 'the shared store: no such open transaction');
            try {
              await transaction.end(call.commit);
            } catch (error) {
              // A rollback we asked for is not an error; a failed commit is.
              if (call.commit) throw error;
            }
            return undefined;
          }
          case 'appendAudit':
            await appendAudit(call.records, call.skipExisting);
            return undefined;
          case 'listen': {
            const id = nextListener++;
            const listener = await db.listen(call.channel, (payload) => send({ verityDb: 'notify', listener: id, payload }));
            if (gone) await listener.close();
            else listeners.set(id, listener);
            return id;
          }
          case 'unlisten': {
            const listener = listeners.get(call.listener);
            listeners.delete(call.listener);
            await listener?.close();
            return undefined;
          }
          case 'notify': {
            const listener = listeners.get(call.listener);
            if (listener === undefined) throw new VerityError('ERR_STORE_UNAVAILABLE', 'the shared store: no such listener');
            await listener.notify(call.payload);
            return undefined;
          }
          case 'barrier':
            await barrier(channel);
            return undefined;
        }
      };

      const unsubscribe = channel.onMessage((message) => {
        if (!isEnvelope(message)) return;
        if (message.verityDb === 'pong') {
          const id = message.id as number;
          const done = peer.pings.get(id);
          peer.pings.delete(id);
          done?.();
          return;
        }
        if (message.verityDb !== 'call') return;
        const id = message.id;
        run(message as unknown as Call).then(
          (value) => send({ verityDb: 'reply', id, ok: true, value }),
          (error: unknown) => send({ verityDb: 'reply', id, ok: false, error: serializeError(error) }),
        );
      });

      return async () => {
        if (gone) return;
        gone = true;
        unsubscribe();
        attached.delete(peer);
        for (const done of peer.pings.values()) done();
        peer.pings.clear();
        await Promise.all([...transactions.values()].map(({ end }) => end(false).catch(() => {})));
        await Promise.all([...listeners.values()].map((listener) => listener.close().catch(() => {})));
        listeners.clear();
      };
    },
  };
}

/**
 * Group commit across workers: the audit batches that arrive while one append runs go in the
 * next, together (each worker's writer has at most one batch in flight, so each worker's
 * records keep their order). One commit costs the same whatever it holds, so without this two
 * workers would pay twice the commits of one. When a group fails, each batch in it is tried on
 * its own (skipping what the group may already have committed), so each worker gets its own
 * batch's answer.
 */
function groupAppends(db: Database): (records: DecisionRecord[], skipExisting: boolean) => Promise<void> {
  const waiting: Array<{ records: DecisionRecord[]; skipExisting: boolean; resolve: () => void; reject: (error: unknown) => void }> = [];
  let running = false;
  const append = async (records: DecisionRecord[], skipExisting: boolean): Promise<void> => {
    if (db.appendAudit === undefined) throw new VerityError('ERR_STORE_UNAVAILABLE', 'the shared store cannot append audit records itself');
    await db.appendAudit(records, { skipExisting });
  };
  const run = async (): Promise<void> => {
    running = true;
    while (waiting.length > 0) {
      const group = waiting.splice(0);
      try {
        await append(
          group.length === 1 ? (group[0] as (typeof group)[0]).records : group.flatMap((batch) => batch.records),
          group.some((batch) => batch.skipExisting),
        );
        for (const batch of group) batch.resolve();
      } catch (error) {
        if (group.length === 1) (group[0] as (typeof group)[0]).reject(error);
        else {
          for (const batch of group) {
            await append(batch.records, true).then(batch.resolve, batch.reject);
          }
        }
      }
    }
    running = false;
  };
  return (records, skipExisting) =>
    new Promise<void>((resolve, reject) => {
      waiting.push({ records, skipExisting, resolve, reject });
      if (!running) void run();
    });
}

/** A {@link Database} reached through the primary: what a worker process of `verity serve --workers N` uses. */
export interface SharedDatabase extends Database {
  /** Other processes use this database too: caches follow the change feed, with bounded staleness. */
  readonly shared: true;
  holdBarrier(until: () => Promise<void>): void;
  /** Always present: the primary's driver chains and inserts the records on its own thread. */
  appendAudit(records: readonly DecisionRecord[], options: { skipExisting: boolean }): Promise<void>;
  /**
   * Resolve once every other worker has handled what was relayed to it before this call (a
   * NOTIFY published before it): after a write's change is published, no worker answers from
   * the copy it replaced. Bounded by {@link BARRIER_WAIT_MS}.
   */
  barrier(): Promise<void>;
}

/** A VerityError keeps its class across the channel (callers test `isVerityError` and `code`). */
function rebuild(wire: WireError): Error {
  const code = wire.fields['code'];
  if (wire.fields['name'] === 'VerityError' && typeof code === 'string' && Object.hasOwn(ERROR_CODES, code)) return new VerityError(code as ErrorCode, wire.message);
  return rebuildError(wire);
}

/**
 * The worker's side: a {@link Database} of kind `kind` (the primary's) over `channel`. If the
 * channel closes (the primary is gone), pending and later calls reject with VerityError
 * ERR_STORE_UNAVAILABLE: fail closed, nothing waits forever. `closed` resolves then.
 */
export function connectSharedDatabase(channel: ProcessChannel, kind: Database['kind'], closed?: Promise<void>): SharedDatabase {
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>();
  const listeners = new Map<number, (payload: string) => void>();
  let hold: () => Promise<void> = () => Promise.resolve();
  let nextId = 1;
  let dead: VerityError | null = null;
  const unavailable = (why: string): VerityError => new VerityError('ERR_STORE_UNAVAILABLE', `the shared store is unavailable: ${why}`);

  channel.onMessage((message) => {
    if (!isEnvelope(message)) return;
    if (message.verityDb === 'reply') {
      const call = pending.get(message.id as number);
      if (call === undefined) return;
      pending.delete(message.id as number);
      if (message['ok'] === true) call.resolve(message['value']);
      else call.reject(rebuild(message['error'] as WireError));
    } else if (message.verityDb === 'notify') {
      listeners.get(message['listener'] as number)?.(message['payload'] as string);
    } else if (message.verityDb === 'ping') {
      // What was heard before the ping is applied before the pong (`holdBarrier`).
      const id = message.id;
      void hold()
        .catch(() => undefined)
        .then(() => channel.send({ verityDb: 'pong', id }));
    }
  });
  void closed?.then(() => {
    dead = unavailable('the primary process is gone');
    for (const { reject } of pending.values()) reject(dead);
    pending.clear();
  });

  const call = (message: Call): Promise<unknown> => {
    if (dead !== null) return Promise.reject(dead);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      try {
        channel.send({ ...message, verityDb: 'call', id });
      } catch (error) {
        pending.delete(id);
        reject(unavailable(error instanceof Error ? error.message : String(error)));
      }
    });
  };
  const clientOf = (tx: number | undefined): SqlClient => ({
    async query<R>(sql: string, params?: readonly unknown[]) {
      const rows = (await call({ op: 'query', sql, ...(params === undefined ? {} : { params: [...params] }), ...(tx === undefined ? {} : { tx }) })) as R[];
      return { rows };
    },
  });

  return {
    kind,
    shared: true,
    query: clientOf(undefined).query,
    transaction: (fn) => transactionOverCalls(call, clientOf, fn),
    async appendAudit(records, { skipExisting }) {
      await call({ op: 'appendAudit', records: [...records], skipExisting });
    },
    async listen(channelName, onPayload) {
      const id = (await call({ op: 'listen', channel: channelName })) as number;
      listeners.set(id, onPayload);
      const close = async (): Promise<void> => {
        if (!listeners.delete(id)) return;
        await call({ op: 'unlisten', listener: id }).catch(() => {});
      };
      return { notify: async (payload: string) => void (await call({ op: 'notify', listener: id, payload })), reset: () => {}, close };
    },
    barrier: () => call({ op: 'barrier' }).then(() => undefined),
    holdBarrier(until) {
      hold = until;
    },
    async close() {
      for (const id of [...listeners.keys()]) {
        listeners.delete(id);
        await call({ op: 'unlisten', listener: id }).catch(() => {});
      }
      dead ??= unavailable('it is closed');
    },
  };
}

import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createChangeFollower, type Change } from './change-follower.js';
import { createSseParser, type ServerSentEvent } from './sse.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((cleanup) => cleanup()));

/** A change stream on a real socket; `status` decides how the next connection is answered. */
async function changeStream() {
  const streams = new Set<ServerResponse>();
  const state = { status: 200, connections: 0, authorization: [] as Array<string | undefined> };
  const server = createServer((request, response) => {
    state.connections++;
    state.authorization.push(request.headers.authorization);
    if (state.status !== 200) return void response.writeHead(state.status).end();
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    response.write(': hello\n\n');
    streams.add(response);
    response.on('close', () => streams.delete(response));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => (server.closeAllConnections(), server.close()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    state,
    send: (data: string) => streams.forEach((stream) => stream.write(`event: change\ndata: ${data}\n\n`)),
    drop: () => streams.forEach((stream) => stream.destroy()),
  };
}

function until(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const poll = () => (check() ? resolve() : Date.now() - started > timeoutMs ? reject(new Error('timed out')) : setTimeout(poll, 5));
    poll();
  });
}

describe('change follower', () => {
  it('reports each change of its tenant, and a resync on connect', async () => {
    const pdp = await changeStream();
    const changes: Change[] = [];
    const follower = createChangeFollower({ url: pdp.url, tenant: 'acme', credential: 'vrt_pep', onChange: (change) => changes.push(change) });
    cleanups.push(() => follower.close());
    await follower.ready;
    expect(follower.connected).toBe(true);
    pdp.send('{"tenant":"acme","kind":"policy"}');
    pdp.send('{"tenant":"acme","kind":"revocation"}');
    pdp.send('{"tenant":"acme","kind":"settings"}');
    pdp.send('{"tenant":"acme","kind":"device"}');
    pdp.send('{"tenant":"acme","kind":"threat"}');
    pdp.send('not json');
    await until(() => changes.length === 7);
    expect(changes.map((change) => change.kind)).toEqual(['resync', 'policy', 'revocation', 'settings', 'device', 'threat', 'resync']);
    expect(pdp.state.authorization).toEqual(['Bearer vrt_pep']);
  });

  it('reconnects with backoff after the stream drops or is refused, resyncing each time', async () => {
    const pdp = await changeStream();
    const changes: Change[] = [];
    const errors: unknown[] = [];
    const follower = createChangeFollower({ url: pdp.url, tenant: 'acme', onChange: (change) => changes.push(change), onError: (error) => errors.push(error), initialBackoffMs: 20, maxBackoffMs: 80, random: () => 0 });
    cleanups.push(() => follower.close());
    await follower.ready;
    pdp.state.status = 503;
    pdp.drop();
    await until(() => pdp.state.connections >= 3);
    expect(follower.connected).toBe(false);
    expect(changes.map((change) => change.kind)).toEqual(['resync', 'resync']);
    pdp.state.status = 200;
    await until(() => follower.connected);
    expect(changes.length).toBe(3);
    expect(errors.length).toBeGreaterThanOrEqual(2);
  });

  it('reconnects when the stream goes quiet', async () => {
    const pdp = await changeStream();
    const follower = createChangeFollower({ url: pdp.url, tenant: 'acme', onChange: () => {}, idleTimeoutMs: 50, initialBackoffMs: 10, random: () => 0 });
    cleanups.push(() => follower.close());
    await until(() => pdp.state.connections >= 2);
  });

  it('stops for good when closed', async () => {
    const pdp = await changeStream();
    const changes: Change[] = [];
    const follower = createChangeFollower({ url: pdp.url, tenant: 'acme', onChange: (change) => changes.push(change), initialBackoffMs: 10 });
    await follower.ready;
    follower.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(pdp.state.connections).toBe(1);
    expect(changes).toHaveLength(1);
  });

  it('refuses bad options', () => {
    expect(() => createChangeFollower({ url: 'http://x', tenant: 'acme' } as never)).toThrow(TypeError);
    expect(() => createChangeFollower({ url: 'http://x', tenant: 'acme', onChange: () => {}, backoff: 1 } as never)).toThrow(TypeError);
  });
});

describe('server-sent events parser', () => {
  it('splits events across chunks and line endings, joins data lines, skips comments', () => {
    const events: ServerSentEvent[] = [];
    const feed = createSseParser((event) => events.push(event));
    feed(': heartbeat\n\nevent: change\r');
    feed('\ndata: {"a":\r\ndata: 1}\r\nid: 7\r\n\r\n');
    feed('data: plain\n\n');
    feed('event: change\n');
    expect(events).toEqual([
      { event: 'change', data: '{"a":\n1}', id: '7' },
      { event: 'message', data: 'plain', id: '7' },
    ]);
  });
});

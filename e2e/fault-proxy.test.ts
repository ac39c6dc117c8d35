/** The fault proxy itself, in front of a local echo server: each mode does what the chaos tests rely on. */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from './helpers/eventually.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';

let echo: net.Server;
const echoSockets = new Set<net.Socket>();
let echoPort: number;
let proxy: FaultProxy;

beforeAll(async () => {
  echo = net.createServer((socket) => {
    echoSockets.add(socket);
    socket.on('close', () => echoSockets.delete(socket));
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  echoPort = (echo.address() as net.AddressInfo).port;
  proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: echoPort } });
});

afterAll(async () => {
  await proxy.close();
  for (const socket of echoSockets) socket.destroy();
  await new Promise<void>((resolve) => echo.close(() => resolve()));
});

/** A client socket that collects what it receives and how it ended. */
interface Probe {
  socket: net.Socket;
  received(): string;
  ended: Promise<{ error: NodeJS.ErrnoException | null }>;
}

async function connect(): Promise<Probe> {
  const socket = net.connect(proxy.port, '127.0.0.1');
  let data = '';
  let error: NodeJS.ErrnoException | null = null;
  socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
  socket.on('error', (caught: NodeJS.ErrnoException) => (error = caught));
  const ended = new Promise<{ error: NodeJS.ErrnoException | null }>((resolve) => socket.on('close', () => resolve({ error })));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, received: () => data, ended };
}

async function roundTrip(probe: Probe, text: string): Promise<void> {
  const before = probe.received().length;
  probe.socket.write(text);
  await eventually(async () => expect(probe.received().slice(before)).toBe(text));
}

describe('fault proxy', () => {
  it('pass forwards both ways and counts open connections', async () => {
    proxy.mode('pass');
    const probe = await connect();
    await roundTrip(probe, 'hello');
    expect(proxy.connections()).toBe(1);
    probe.socket.destroy();
    await probe.ended;
    await eventually(async () => expect(proxy.connections()).toBe(0));
  });

  it('url keeps credentials and path and points at the proxy', () => {
    expect(proxy.url('postgres://user:pw@db.example:5432/app?sslmode=disable')).toBe(`postgres://user:pw@127.0.0.1:${proxy.port}/app?sslmode=disable`);
  });

  it('reset destroys open connections with ECONNRESET and refuses new ones until pass', async () => {
    proxy.mode('pass');
    const probe = await connect();
    await roundTrip(probe, 'before');
    proxy.mode('reset');
    const { error } = await probe.ended;
    expect(error?.code).toBe('ECONNRESET');
    expect(proxy.connections()).toBe(0);
    const refused = await connect().catch((caught: NodeJS.ErrnoException) => caught);
    if (!(refused instanceof Error)) expect((await refused.ended).error?.code).toBe('ECONNRESET');
    proxy.mode('pass');
    const again = await connect();
    await roundTrip(again, 'after');
    again.socket.destroy();
  });

  it('refuse closes new connections at once and leaves open ones working', async () => {
    proxy.mode('pass');
    const open = await connect();
    proxy.mode('refuse');
    const refused = await connect();
    await refused.ended;
    expect(refused.received()).toBe('');
    await roundTrip(open, 'still');
    proxy.mode('pass');
    open.socket.destroy();
  });

  it('blackhole forwards nothing either way, then resumes on pass', async () => {
    proxy.mode('pass');
    const open = await connect();
    await roundTrip(open, 'a');
    proxy.mode('blackhole');
    open.socket.write('held');
    const late = await connect();
    late.socket.write('late');
    // Nothing may come back while the hole lasts: give the echo ample time to answer if it could.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(open.received()).toBe('a');
    expect(late.received()).toBe('');
    expect(proxy.connections()).toBe(2);
    proxy.mode('pass');
    await eventually(async () => expect(open.received()).toBe('aheld'));
    await eventually(async () => expect(late.received()).toBe('late'));
    open.socket.destroy();
    late.socket.destroy();
  });
});

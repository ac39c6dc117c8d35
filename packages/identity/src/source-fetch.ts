/**
 * The fetch that identity-source requests (OIDC discovery, JWKS) go through: https to public
 * addresses only, no redirects, bounded in size and time. A policy author names these URLs,
 * so without the guard they could make Verity call its own network (SSRF).
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { VerityError } from '@verity/core';

/** The fetch signature identity-source requests need (the global `fetch` fits). */
export type FetchFunction = (url: string, init: RequestInit) => Promise<Response>;

/** One resolved address, as `dns.lookup(host, { all: true })` gives it. */
export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Options for {@link createSourceFetch}. */
export interface SourceFetchOptions {
  /**
   * Allow plain http and loopback, private, link-local and other non-public addresses
   * (default false). For development and tests with an issuer on this machine only.
   */
  allowInsecure?: boolean;
  /** Largest response body read, bytes (default 256 KiB); reading stops there. */
  maxBytes?: number;
  /** Budget for the whole request, connection to last byte, ms (default 5000). */
  timeoutMs?: number;
  /** Host name resolution (default `dns.lookup` with `all: true`); injectable for tests. */
  resolve?: (hostname: string) => Promise<ResolvedAddress[]>;
}

/** A JWKS or discovery document is a few KiB; this leaves room for large RSA key sets. */
export const MAX_SOURCE_RESPONSE_BYTES = 256 * 1024;

/**
 * Addresses an identity source may never reach: "this network", private (RFC 1918), shared
 * (RFC 6598), loopback, link-local (cloud metadata lives at 169.254.169.254), IETF protocol
 * assignments, benchmarking, multicast and reserved; for IPv6 unspecified, loopback,
 * unique-local, link-local, site-local, multicast, and the NAT64/6to4 prefixes that embed an
 * IPv4 address. IPv4-mapped IPv6 (`::ffff:127.0.0.1`) is matched against the IPv4 rules.
 */
const BLOCKED = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) BLOCKED.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of [
  ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001:db8::', 32], ['2002::', 16],
  ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
] as const) BLOCKED.addSubnet(network, prefix, 'ipv6');

/**
 * Whether `address` (an IP literal) is a public unicast address an identity source may use.
 *
 * @example
 * isPublicAddress('8.8.8.8'); // true
 * isPublicAddress('::ffff:169.254.169.254'); // false
 */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return !BLOCKED.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

function refused(message: string, detail?: string): VerityError {
  // The message is generic on purpose: it reaches API callers. The detail is for the log.
  return new VerityError('ERR_IDENTITY_SOURCE_UNAVAILABLE', message, detail === undefined ? undefined : { cause: new Error(detail) });
}

const defaultResolve = (hostname: string): Promise<ResolvedAddress[]> => dnsLookup(hostname, { all: true, verbatim: true });

/**
 * Create the guarded fetch. Every address a host name resolves to is checked and the
 * connection goes to exactly those addresses (the check sits in the socket's `lookup`), so a
 * name that resolves to a public address for a check and to `127.0.0.1` for the connection
 * (DNS rebinding) still cannot reach loopback. Redirects are never followed.
 *
 * @throws VerityError `ERR_IDENTITY_SOURCE_UNAVAILABLE` (a generic message; the reason in `cause`).
 * @example
 * const fetch = createSourceFetch();
 * const response = await fetch('https://idp.example.com/.well-known/openid-configuration', { method: 'GET' });
 */
export function createSourceFetch(options: SourceFetchOptions = {}): FetchFunction {
  const allowInsecure = options.allowInsecure ?? false;
  const maxBytes = options.maxBytes ?? MAX_SOURCE_RESPONSE_BYTES;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const resolve = options.resolve ?? defaultResolve;
  if (typeof allowInsecure !== 'boolean') throw new TypeError('source fetch: allowInsecure must be a boolean');
  if (!Number.isInteger(maxBytes) || maxBytes <= 0) throw new TypeError('source fetch: maxBytes must be a positive integer');
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new TypeError('source fetch: timeoutMs must be a positive integer');

  const checkedLookup: LookupFunction = (hostname, lookupOptions, callback) => {
    resolve(hostname).then(
      (addresses) => {
        const usable = addresses.filter((entry) => lookupOptions.family === undefined || lookupOptions.family === 0 || entry.family === lookupOptions.family);
        const blocked = usable.find((entry) => !isPublicAddress(entry.address));
        if (usable.length === 0) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
        if (!allowInsecure && blocked !== undefined) return callback(Object.assign(new Error(`${hostname} resolves to a non-public address ${blocked.address}`), { code: 'EVERITYBLOCKED' }), '', 0);
        if (lookupOptions.all === true) return (callback as unknown as (error: null, addresses: ResolvedAddress[]) => void)(null, usable);
        const first = usable[0] as ResolvedAddress;
        return callback(null, first.address, first.family);
      },
      (error: Error) => callback(error as NodeJS.ErrnoException, '', 0),
    );
  };

  return (url, init) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return Promise.reject(refused('the identity source URL is not valid'));
    }
    if (target.protocol !== 'https:' && !(allowInsecure && target.protocol === 'http:')) {
      return Promise.reject(refused('the identity source URL must use https', `refused ${target.protocol} URL`));
    }
    // Node connects to an IP literal without a lookup, so literals are checked here.
    const literal = target.hostname.replace(/^\[|\]$/g, '');
    if (!allowInsecure && isIP(literal) !== 0 && !isPublicAddress(literal)) {
      return Promise.reject(refused('the identity source address is not allowed', `refused address ${literal}`));
    }
    const headers: Record<string, string> = Object.fromEntries(new Headers(init.headers ?? {}).entries());
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<Response>((resolvePromise, reject) => {
      let settled = false;
      const fail = (error: VerityError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        init.signal?.removeEventListener('abort', onAbort);
        request.destroy();
        reject(error);
      };
      const onAbort = (): void => fail(refused('the identity source request was aborted'));
      const timer = setTimeout(() => fail(refused('the identity source did not answer in time', `no complete answer within ${timeoutMs} ms`)), timeoutMs);
      const request = send(target, { method: init.method ?? 'GET', headers, lookup: checkedLookup, agent: false }, (response: IncomingMessage) => {
        const declared = Number(response.headers['content-length']);
        if (Number.isFinite(declared) && declared > maxBytes) return fail(refused('the identity source answer is too large', `content-length ${declared}`));
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          // Stop reading at the limit instead of buffering whatever the remote sends.
          if (size > maxBytes) return fail(refused('the identity source answer is too large', `more than ${maxBytes} bytes`));
          chunks.push(chunk);
        });
        response.on('error', (error) => fail(refused('the identity source could not be reached', error.message)));
        response.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          init.signal?.removeEventListener('abort', onAbort);
          const status = response.statusCode ?? 502;
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(response.headers)) if (typeof value === 'string') responseHeaders.set(name, value);
          const body = status === 204 || status === 304 ? null : Buffer.concat(chunks);
          resolvePromise(new Response(body, { status: status < 200 || status > 599 ? 502 : status, headers: responseHeaders }));
        });
      });
      request.on('error', (error: NodeJS.ErrnoException) => {
        const blocked = error.code === 'EVERITYBLOCKED';
        fail(refused(blocked ? 'the identity source address is not allowed' : 'the identity source could not be reached', error.message));
      });
      if (init.signal?.aborted === true) return onAbort();
      init.signal?.addEventListener('abort', onAbort, { once: true });
      // A string body is sent as given (RFC 8935 pushes a SET this way); other bodies are not used here.
      request.end(typeof init.body === 'string' ? init.body : undefined);
    });
  };
}

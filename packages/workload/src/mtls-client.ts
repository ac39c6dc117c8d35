/**
 * mTLS for outgoing requests with undici: an `Agent` that presents the workload's current SVID
 * and accepts a server only by its SPIFFE id (host names play no part: SPIFFE X509-SVID §5).
 */
import type { PeerCertificate } from 'node:tls';
import { Agent, buildConnector, Dispatcher } from 'undici';
import { isVerityError, VerityError } from '@verity/core';
import { chainOfPeerCertificate } from './peer-identity.js';
import type { SvidSource } from './svid-source.js';
import { verifyX509Svid } from './x509-svid.js';
import { MIN_TLS_VERSION } from './mtls-server.js';

/** Options of {@link createMtlsAgent}. */
export interface MtlsAgentOptions {
  source: SvidSource;
  /**
   * Which server to accept: an exact SPIFFE id, or a predicate. Default: any workload of the
   * bundle's trust domain (every SVID verified against the bundle is in it).
   */
  expectServerId?: string | ((spiffeId: string) => boolean);
  /** Clock, epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Other undici Agent options (pool sizes, timeouts); `connect` is this module's. */
  agentOptions?: Omit<Agent.Options, 'connect'>;
}

/**
 * An undici `Agent` for mTLS between workloads. Each new connection takes the source's current
 * SVID and roots (so rotation applies to new connections; live ones continue); TLS ≥ 1.2; no
 * session resumption (a resumed session would skip the SPIFFE check). The server's chain must
 * verify with {@link verifyX509Svid} against the current bundle, not be deny-listed, and match
 * `expectServerId`; otherwise the connection fails with a VerityError (`ERR_SVID_UNTRUSTED`,
 * `ERR_SVID_REVOKED`, or the chain's code) as the fetch error's cause.
 * @example
 * const agent = createMtlsAgent({ source, expectServerId: 'spiffe://acme.internal/orders' });
 * await fetch('https://orders:8443/v1/x', { dispatcher: agent });
 * @throws TypeError for bad options.
 */
export function createMtlsAgent(options: MtlsAgentOptions): Dispatcher {
  const { source, expectServerId } = options;
  if (typeof source?.current !== 'function') throw new TypeError('createMtlsAgent: source must be an SvidSource');
  if (expectServerId !== undefined && typeof expectServerId !== 'string' && typeof expectServerId !== 'function') {
    throw new TypeError('createMtlsAgent: expectServerId must be a SPIFFE id or a function');
  }
  const accepts = (id: string): boolean => (expectServerId === undefined ? true : typeof expectServerId === 'string' ? id === expectServerId : expectServerId(id));

  const connect: buildConnector.connector = (connectOptions, callback) => {
    const state = source.current();
    // node calls this after OpenSSL verified the chain to `ca`, with getPeerCertificate(true): the
    // detailed certificate linked to its issuers. The host name is ignored on purpose.
    const checkServerIdentity = (_host: string, cert: PeerCertificate): Error | undefined => {
      try {
        const { spiffeId } = verifyX509Svid(chainOfPeerCertificate(cert), state.bundle, options.now === undefined ? {} : { now: options.now });
        if (state.denied.has(spiffeId)) return new VerityError('ERR_SVID_REVOKED', 'the server\'s SPIFFE id is deny-listed');
        if (!accepts(spiffeId)) return new VerityError('ERR_SVID_UNTRUSTED', 'the server is not the expected workload');
        return undefined;
      } catch (error) {
        return isVerityError(error) ? error : new VerityError('ERR_SVID_INVALID', 'the server certificate could not be checked');
      }
    };
    const connector = buildConnector({
      cert: state.svid.certChainPem.join(''),
      key: state.svid.privateKeyPem,
      ca: [...state.bundle.x509Authorities],
      minVersion: MIN_TLS_VERSION,
      rejectUnauthorized: true,
      checkServerIdentity,
      maxCachedSessions: 0,
    });
    connector(connectOptions, callback);
  };
  return new RotatingDispatcher(source, () => new Agent({ ...options.agentOptions, connect }));
}

/** What makes a connection's credentials stale: the SVID presented, and the roots it was checked against. */
function credentialsOf(source: SvidSource): string | undefined {
  try {
    const { svid, bundle } = source.current();
    return `${svid.privateKeyPem}\n${bundle.sequence}\n${bundle.x509Authorities.join('')}`;
  } catch {
    return undefined;
  }
}

/**
 * An undici dispatcher over one `Agent` per SVID: when the source rotates the SVID or swaps the
 * bundle, new requests go to a new Agent and the old one closes gracefully (its in-flight
 * requests finish; its idle kept-alive connections close). So no connection outlives the SVID it
 * presented: a strict server re-checks the peer on every request and would refuse an expired one.
 */
class RotatingDispatcher extends Dispatcher {
  #current: Agent;
  #credentials: string | undefined;
  readonly #retiring = new Set<Promise<void>>();
  readonly #unsubscribe: () => void;

  constructor(source: SvidSource, make: () => Agent) {
    super();
    this.#current = make();
    this.#credentials = credentialsOf(source);
    this.#unsubscribe = source.subscribe(() => {
      const next = credentialsOf(source);
      if (next === undefined || next === this.#credentials) return;
      this.#credentials = next;
      const old = this.#current;
      this.#current = make();
      const closing = old.close().catch(() => {});
      this.#retiring.add(closing);
      void closing.finally(() => this.#retiring.delete(closing));
    });
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.#current.dispatch(options, handler);
  }

  override close(callback: () => void): void;
  override close(): Promise<void>;
  override close(callback?: () => void): Promise<void> | void {
    this.#unsubscribe();
    const done = Promise.all([...this.#retiring, this.#current.close()]).then(() => undefined);
    if (callback === undefined) return done;
    void done.then(callback, callback);
  }

  override destroy(err: Error | null, callback: () => void): void;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null): Promise<void>;
  override destroy(): Promise<void>;
  override destroy(errOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
    this.#unsubscribe();
    const err = typeof errOrCallback === 'function' ? null : (errOrCallback ?? null);
    const cb = typeof errOrCallback === 'function' ? errOrCallback : callback;
    const done = this.#current.destroy(err).then(() => undefined);
    if (cb === undefined) return done;
    void done.then(cb, cb);
  }
}

/**
 * mTLS for node:https / node:tls servers from an {@link SvidSource}: TLS options from the current
 * SVID and bundle, hot rotation (`setSecureContext`, existing connections continue), and the
 * verified SPIFFE id of each caller.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerOptions } from 'node:https';
import { Socket } from 'node:net';
import type { SecureContextOptions, Server as TlsServer, TLSSocket } from 'node:tls';
import { VerityError } from '@verity/core';
import { checkPeerOfSocket, UNAUTHENTICATED_PEER, type PeerCheck, type PeerIdentity } from './peer-identity.js';
import type { SvidSource, SvidSourceState } from './svid-source.js';

/** Options of {@link createMtlsContext}. */
export interface MtlsContextOptions {
  source: SvidSource;
  /**
   * `strict`: a client certificate is required and must chain to the bundle (checked by OpenSSL
   * in the handshake), and, once {@link MtlsContext.attach}ed, a connection whose peer fails the
   * SPIFFE checks or is deny-listed is closed. `permissive` (migration, observe mode): any client
   * is accepted; {@link MtlsContext.peerOf} tells who was verified.
   */
  mode: 'strict' | 'permissive';
  /** Which authenticated SPIFFE ids may call this server at all; default: every one. */
  authorizePeer?: (spiffeId: string) => boolean;
  /** Clock, epoch ms. Default `Date.now`. */
  now?: () => number;
}

/** What {@link createMtlsContext} returns. */
export interface MtlsContext {
  /** Options for `https.createServer` / `tls.createServer`: cert chain, key, `ca` = bundle roots, `requestCert`, `rejectUnauthorized` (strict), TLS ≥ 1.2. */
  serverOptions(): ServerOptions;
  /**
   * Follow the source: on every change, `server.setSecureContext` with the new SVID and roots
   * (new handshakes use them; live connections continue); in strict mode, also close connections
   * whose peer no longer passes (deny-listed, root removed) and refuse such peers at handshake.
   * Every request is gated before any handler runs: as {@link requireAuthorizedPeer} (401 for a
   * peer without a valid, non-denied SVID in strict mode; 403 when `authorizePeer` refuses it),
   * so no handler ever sees a refused peer's request. Returns a function that detaches.
   */
  attach(server: TlsServer): () => void;
  /** The caller's identity, re-verified against the current bundle and deny list. */
  peerOf(reqOrSocket: IncomingMessage | TLSSocket | Socket): PeerIdentity;
  /**
   * For a request handler: returns the caller's identity when authenticated and authorized (by
   * `authorize`, else the context's `authorizePeer`); otherwise answers 401 (unauthenticated,
   * `ERR_SVID_REVOKED` when deny-listed) or 403 (`ERR_AUTH_FORBIDDEN`), with `connection: close`,
   * and returns null. In permissive mode a caller without a valid SVID (none, invalid, deny-listed)
   * is passed through as {@link UNAUTHENTICATED_PEER} unless an authorize function applies.
   */
  requireAuthorizedPeer(req: IncomingMessage, res: ServerResponse, authorize?: (spiffeId: string) => boolean): PeerIdentity | null;
}

/** Oldest TLS version offered (RFC 8996 retires 1.0 and 1.1). */
export const MIN_TLS_VERSION = 'TLSv1.2';

function secureContextOptions(state: SvidSourceState): SecureContextOptions {
  return { cert: state.svid.certChainPem.join(''), key: state.svid.privateKeyPem, ca: [...state.bundle.x509Authorities], minVersion: MIN_TLS_VERSION };
}

function socketOf(reqOrSocket: IncomingMessage | TLSSocket | Socket): Socket {
  return reqOrSocket instanceof Socket ? reqOrSocket : reqOrSocket.socket;
}

function respond(res: ServerResponse, status: number, error: VerityError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
  res.end(JSON.stringify(error.toJSON()));
}

/**
 * mTLS helpers bound to one source and mode. See {@link MtlsContext}.
 * @throws TypeError for bad options.
 */
export function createMtlsContext(options: MtlsContextOptions): MtlsContext {
  const { source, mode, authorizePeer } = options;
  if (typeof source?.current !== 'function' || typeof source.subscribe !== 'function') throw new TypeError('createMtlsContext: source must be an SvidSource');
  if (mode !== 'strict' && mode !== 'permissive') throw new TypeError('createMtlsContext: mode must be "strict" or "permissive"');
  if (authorizePeer !== undefined && typeof authorizePeer !== 'function') throw new TypeError('createMtlsContext: authorizePeer must be a function');
  const clock = options.now === undefined ? {} : { now: options.now };
  const check = (socket: Socket): PeerCheck => checkPeerOfSocket(socket, source.current(), clock);

  const context: MtlsContext = {
    serverOptions() {
      return { ...secureContextOptions(source.current()), requestCert: true, rejectUnauthorized: mode === 'strict' };
    },

    attach(server) {
      const live = new Set<TLSSocket>();
      const onSecure = (socket: TLSSocket): void => {
        if (mode !== 'strict') return;
        if (check(socket).refusal !== undefined) {
          socket.destroy();
          return;
        }
        live.add(socket);
        socket.once('close', () => live.delete(socket));
      };
      const unsubscribe = source.subscribe(() => {
        server.setSecureContext(secureContextOptions(source.current()));
        for (const socket of live) if (check(socket).refusal !== undefined) socket.destroy();
      });
      // Before the HTTP server's own listener: a refused peer's socket is gone before it is parsed.
      server.prependListener('secureConnection', onSecure);
      // The gate no handler can skip: OpenSSL checked only the chain in the handshake, and a
      // client may send its request in the same flight, so every request (and upgrade) is checked
      // against the current bundle, deny list and `authorizePeer` before any listener sees it.
      const emit = server.emit as (this: TlsServer, event: string | symbol, ...rest: unknown[]) => boolean;
      const gated = function (this: TlsServer, event: string | symbol, ...args: unknown[]): boolean {
        if (event === 'request' || event === 'checkContinue' || event === 'checkExpectation') {
          if (context.requireAuthorizedPeer(args[0] as IncomingMessage, args[1] as ServerResponse) === null) return true;
        } else if (event === 'upgrade' || event === 'connect') {
          const socket = args[1] as Socket;
          if (mode === 'strict' && check((args[0] as IncomingMessage).socket).refusal !== undefined) {
            socket.destroy();
            return true;
          }
        }
        return emit.call(this, event, ...args);
      };
      server.emit = gated as TlsServer['emit'];
      return () => {
        unsubscribe();
        server.off('secureConnection', onSecure);
        if (server.emit === (gated as TlsServer['emit'])) server.emit = emit as TlsServer['emit'];
        live.clear();
      };
    },

    peerOf(reqOrSocket) {
      return check(socketOf(reqOrSocket)).identity;
    },

    requireAuthorizedPeer(req, res, authorize) {
      const { identity, refusal } = check(req.socket);
      const allow = authorize ?? authorizePeer;
      if (refusal !== undefined) {
        // Permissive mode lets the unverified through, as unauthenticated, unless this route names who may call.
        if (mode === 'permissive' && allow === undefined) return UNAUTHENTICATED_PEER;
        const code = refusal.reason === 'denied' ? 'ERR_SVID_REVOKED' : refusal.reason === 'no-certificate' ? 'ERR_SVID_INVALID' : refusal.code;
        respond(res, 401, new VerityError(code, 'the caller has no valid X.509-SVID'));
        return null;
      }
      if (allow !== undefined && !allow(identity.spiffeId as string)) {
        respond(res, 403, new VerityError('ERR_AUTH_FORBIDDEN', 'this workload may not call this endpoint'));
        return null;
      }
      return identity;
    },
  };
  return context;
}

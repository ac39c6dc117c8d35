/**
 * Who is on the other end of a connection: the SPIFFE id of an mTLS peer, re-verified against
 * the current trust bundle and deny list (not merely `socket.authorized`).
 */
import type { Socket } from 'node:net';
import type { DetailedPeerCertificate, PeerCertificate, TLSSocket } from 'node:tls';
import { isVerityError, type ErrorCode } from '@verity/core';
import type { SvidSourceState } from './svid-source.js';
import { MAX_CHAIN_LENGTH, verifyX509Svid } from './x509-svid.js';

/** The verified peer as PEPs see it (sent to the PDP as `context.caller`). */
export interface PeerIdentity {
  /** SPIFFE id when authenticated, else null. */
  spiffeId: string | null;
  authenticated: boolean;
  /** `mtls`: the TLS peer's own SVID; `xfcc`: forwarded by a trusted proxy; `none`: unauthenticated. */
  via: 'mtls' | 'xfcc' | 'none';
}

/** The identity of an unauthenticated caller. */
export const UNAUTHENTICATED_PEER: PeerIdentity = Object.freeze({ spiffeId: null, authenticated: false, via: 'none' });

/** Why a peer is not authenticated: no client certificate, or one that fails the SVID rules / the deny list. */
export type PeerRefusal = { code: ErrorCode; reason: 'no-certificate' | 'invalid' | 'denied' };

/** A peer check: the identity and, when unauthenticated, why. */
export interface PeerCheck {
  identity: PeerIdentity;
  refusal?: PeerRefusal;
}

function isTlsSocket(socket: unknown): socket is TLSSocket {
  return typeof socket === 'object' && socket !== null && (socket as { encrypted?: unknown }).encrypted === true && typeof (socket as TLSSocket).getPeerCertificate === 'function';
}

/**
 * The certificates of a peer, leaf first, from node's detailed peer certificate (each links to
 * its issuer; a self-signed one points at itself). One more than the SVID limit is collected so
 * that an over-long chain is refused, not cut.
 */
export function chainOfPeerCertificate(leaf: DetailedPeerCertificate | PeerCertificate | null | undefined): Uint8Array[] {
  let cert = leaf as DetailedPeerCertificate | undefined | null;
  const chain: Uint8Array[] = [];
  const seen = new Set<string>();
  while (cert?.raw !== undefined && chain.length <= MAX_CHAIN_LENGTH && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    chain.push(new Uint8Array(cert.raw));
    cert = cert.issuerCertificate;
  }
  return chain;
}

/** The certificates a TLS socket's peer presented, leaf first (`getPeerCertificate(true)`). */
export function peerChainOf(socket: TLSSocket): Uint8Array[] {
  return chainOfPeerCertificate(socket.getPeerCertificate(true));
}

/** How long a socket's check is reused while the state does not change (ms); the leaf's expiry also ends it. */
const CHECK_REUSE_MS = 30_000;
const cache = new WeakMap<object, { state: SvidSourceState; check: PeerCheck; untilMs: number }>();

function verifyPeer(socket: TLSSocket, state: SvidSourceState, nowMs: number): { check: PeerCheck; untilMs: number } {
  const chain = peerChainOf(socket);
  if (chain.length === 0) return { check: { identity: UNAUTHENTICATED_PEER, refusal: { code: 'ERR_SVID_INVALID', reason: 'no-certificate' } }, untilMs: Infinity };
  try {
    const { spiffeId, expiresAtMs } = verifyX509Svid(chain, state.bundle, { now: () => nowMs });
    const untilMs = Math.min(expiresAtMs, nowMs + CHECK_REUSE_MS);
    if (state.denied.has(spiffeId)) return { check: { identity: UNAUTHENTICATED_PEER, refusal: { code: 'ERR_SVID_REVOKED', reason: 'denied' } }, untilMs };
    return { check: { identity: Object.freeze({ spiffeId, authenticated: true, via: 'mtls' as const }) }, untilMs };
  } catch (error) {
    if (!isVerityError(error)) throw error;
    return { check: { identity: UNAUTHENTICATED_PEER, refusal: { code: error.code, reason: 'invalid' } }, untilMs: nowMs + CHECK_REUSE_MS };
  }
}

/**
 * Check a socket's peer against `state` (its bundle and deny list): the presented chain is
 * verified with {@link verifyX509Svid}, whatever node's own verification said; a deny-listed id
 * is refused. The result is reused for the same socket while `state` is the same object, for at
 * most 30 s and never past the leaf's expiry.
 */
export function checkPeerOfSocket(socket: TLSSocket | Socket, state: SvidSourceState, options: { now?: () => number } = {}): PeerCheck {
  if (!isTlsSocket(socket)) return { identity: UNAUTHENTICATED_PEER, refusal: { code: 'ERR_SVID_INVALID', reason: 'no-certificate' } };
  const nowMs = (options.now ?? Date.now)();
  const cached = cache.get(socket);
  if (cached !== undefined && cached.state === state && nowMs <= cached.untilMs) return cached.check;
  const { check, untilMs } = verifyPeer(socket, state, nowMs);
  cache.set(socket, { state, check, untilMs });
  return check;
}

/**
 * The peer identity of a socket (see {@link checkPeerOfSocket}): `{spiffeId, authenticated: true,
 * via: 'mtls'}` for a valid, not deny-listed SVID; {@link UNAUTHENTICATED_PEER} for a plain socket,
 * no client certificate, or any failure.
 */
export function peerIdentityOfSocket(socket: TLSSocket | Socket, state: SvidSourceState, options: { now?: () => number } = {}): PeerIdentity {
  return checkPeerOfSocket(socket, state, options).identity;
}

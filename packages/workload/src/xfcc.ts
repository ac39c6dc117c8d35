/**
 * Envoy's `x-forwarded-client-cert` (XFCC): the client identity a trusted proxy in front of this
 * service verified. Believed only from a proxy that is itself an authenticated mTLS peer named in
 * `trustedProxies`; from anyone else the header is ignored and flagged as forged.
 */
import { parseWorkloadSpiffeId } from './spiffe-id.js';
import { UNAUTHENTICATED_PEER, type PeerIdentity } from './peer-identity.js';

/** One XFCC element (one proxy's statement): keys By, Hash, Cert, Chain, Subject, URI, DNS; URI and DNS may repeat. */
export type XfccElement = Record<string, string[]>;

/** Largest XFCC header we parse (characters); a URL-encoded chain fits well within. */
const MAX_XFCC_CHARS = 64 * 1024;
const KNOWN_KEYS = new Map(['By', 'Hash', 'Cert', 'Chain', 'Subject', 'URI', 'DNS'].map((k) => [k.toLowerCase(), k]));

/**
 * Parse an XFCC header (Envoy docs, "x-forwarded-client-cert"): elements separated by `,`, each
 * `key=value` pairs separated by `;`; a value may be double-quoted, with `\"` inside. Keys are
 * case-insensitive and returned in Envoy's spelling; an unknown key makes the header malformed.
 * @returns the elements in order (the last one added by the nearest proxy), or null when malformed.
 */
export function parseXfcc(header: string): XfccElement[] | null {
  if (header.length === 0 || header.length > MAX_XFCC_CHARS) return null;
  const elements: XfccElement[] = [];
  let element: XfccElement = {};
  let i = 0;
  for (;;) {
    const eq = header.indexOf('=', i);
    if (eq === -1) return null;
    const key = KNOWN_KEYS.get(header.slice(i, eq).trim().toLowerCase());
    if (key === undefined) return null;
    i = eq + 1;
    let value = '';
    if (header[i] === '"') {
      i++;
      for (;;) {
        if (i >= header.length) return null; // unterminated quote
        const c = header[i] as string;
        if (c === '\\' && header[i + 1] === '"') {
          value += '"';
          i += 2;
        } else if (c === '"') {
          i++;
          break;
        } else {
          value += c;
          i++;
        }
      }
    } else {
      const end = header.slice(i).search(/[;,]/);
      value = end === -1 ? header.slice(i) : header.slice(i, i + end);
      if (value.includes('"')) return null;
      i += value.length;
    }
    (element[key] ??= []).push(value.trim());
    const sep = header[i];
    if (sep === undefined) break;
    i++;
    if (sep === ',') {
      elements.push(element);
      element = {};
    } else if (sep !== ';') return null;
    while (header[i] === ' ') i++;
  }
  elements.push(element);
  return elements;
}

/** Options of {@link peerFromXfcc}. */
export interface PeerFromXfccOptions {
  /** The mTLS-verified peer of this connection (from `peerOf`). */
  immediatePeer: PeerIdentity;
  /** SPIFFE ids of the proxies allowed to set the header (e.g. the ingress gateway's). */
  trustedProxies: readonly string[];
  /** The forwarded id must be a workload id of this trust domain. */
  trustDomain: string;
  /** Deny-listed SPIFFE ids: a forwarded one is not authenticated. */
  denied?: ReadonlySet<string>;
}

/** A peer identity from XFCC; `forged` when an untrusted caller sent the header (audit it). */
export type XfccPeerIdentity = PeerIdentity & { forged?: true };

/**
 * The caller's identity, honouring XFCC only from a trusted proxy:
 * - no header: the immediate peer;
 * - header from a peer that is not an mTLS-authenticated trusted proxy: the immediate peer, with
 *   `forged: true` (the header is ignored);
 * - header from a trusted proxy: the SPIFFE id in the LAST element's single `URI` (the element the
 *   nearest proxy added), `via: 'xfcc'`. Configure Envoy with `forward_client_cert_details:
 *   SANITIZE_SET` so that the header holds only what it verified itself; APPEND_FORWARD also works
 *   because only the last element is read, but earlier elements are then the client's own claims;
 * - a malformed header, no or several URIs, a URI that is not a workload SPIFFE id of
 *   `trustDomain`, or a deny-listed id: unauthenticated.
 */
export function peerFromXfcc(header: string | readonly string[] | undefined, options: PeerFromXfccOptions): XfccPeerIdentity {
  const { immediatePeer, trustedProxies } = options;
  // node joins repeated headers with ", ", which is also XFCC's element separator.
  const text = typeof header === 'string' ? header : header === undefined ? '' : header.join(',');
  if (text === '') return immediatePeer;
  const fromTrustedProxy = immediatePeer.authenticated && immediatePeer.via === 'mtls' && immediatePeer.spiffeId !== null && trustedProxies.includes(immediatePeer.spiffeId);
  if (!fromTrustedProxy) return { ...immediatePeer, forged: true };
  const elements = parseXfcc(text);
  const uris = elements?.[elements.length - 1]?.URI ?? [];
  if (uris.length !== 1) return UNAUTHENTICATED_PEER;
  try {
    const { id } = parseWorkloadSpiffeId(uris[0], options.trustDomain);
    if (options.denied?.has(id) === true) return UNAUTHENTICATED_PEER;
    return { spiffeId: id, authenticated: true, via: 'xfcc' };
  } catch {
    return UNAUTHENTICATED_PEER;
  }
}

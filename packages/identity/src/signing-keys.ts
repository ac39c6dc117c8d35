/** The token service's signing-key ring: one current key, scheduled rotation, retired keys published until their tokens expire. */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { AsymmetricAlgorithm } from './types.js';

/** One signing key as persisted. `privateJwk` is secret: the store encrypts it at rest, nobody logs it. */
export interface StoredSigningKey {
  /** RFC 7638 SHA-256 thumbprint of the public key. */
  kid: string;
  alg: AsymmetricAlgorithm;
  /** Milliseconds since the epoch; the newest key not created in the future is the current one. */
  createdAt: number;
  privateJwk: JWK;
}

/** Where the ring keeps its keys. `save` receives the complete list (the ring prunes what it no longer publishes). */
export interface SigningKeyStore {
  load(): Promise<StoredSigningKey[]>;
  /**
   * Replace the ring with `keys` if it still is `replacing` (what was loaded): false, nothing
   * written, when another instance sharing the store changed it meanwhile (its ring wins).
   */
  save(keys: StoredSigningKey[], replacing: StoredSigningKey[]): Promise<boolean>;
}

/** The key that signs right now. `key` is a non-extractable private key: its material cannot be exported from it. */
export interface ActiveSigningKey {
  kid: string;
  alg: AsymmetricAlgorithm;
  key: CryptoKey;
}

/** A public JWK as published: never `d`, `p`, `q` or any other private member. */
export interface PublishedJwk {
  kty: string;
  kid: string;
  alg: AsymmetricAlgorithm;
  use: 'sig';
  crv?: string;
  x?: string;
  y?: string;
  n?: string;
  e?: string;
}

export interface SigningKeyRing {
  /** The key to sign with now; rotates first when the current key is older than `rotateEveryMs`. */
  current(): Promise<ActiveSigningKey>;
  /** The JWKS document: the current key and every retired key still inside its overlap window. */
  jwks(): Promise<{ keys: PublishedJwk[] }>;
  /** Retires the current key now (e.g. after a suspected compromise, with `overlapMs` still honoured). */
  rotate(): Promise<ActiveSigningKey>;
  readonly algorithm: AsymmetricAlgorithm;
  /** The longest token lifetime this ring's overlap window covers; issuers must not exceed it. */
  readonly maxTokenTtlSec: number;
}

export interface SigningKeyRingOptions {
  store: SigningKeyStore;
  /** Clock in milliseconds (default `Date.now`). */
  now?: () => number;
  /** Default 24 h. */
  rotateEveryMs?: number;
  /** Longest lifetime of a token signed by this ring (default 300 s, the issuer's default). */
  maxTokenTtlSec?: number;
  /**
   * How long a retired key stays in the JWKS. Default: `maxTokenTtlSec` + 5 min, so every token it
   * signed expires while its key is still published. Must be at least `maxTokenTtlSec`.
   */
  overlapMs?: number;
  /** Default ES256. */
  algorithm?: AsymmetricAlgorithm;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const OVERLAP_MARGIN_MS = 5 * 60 * 1000;
const ALGORITHMS: ReadonlySet<string> = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']);
const OPTION_KEYS: ReadonlySet<string> = new Set(['store', 'now', 'rotateEveryMs', 'maxTokenTtlSec', 'overlapMs', 'algorithm']);
// Whitelist per key type: a public JWK is rebuilt from these members only, so a private member can never leak.
const PUBLIC_MEMBERS: Record<string, readonly string[]> = { EC: ['crv', 'x', 'y'], OKP: ['crv', 'x'], RSA: ['n', 'e'] };

/**
 * Creates the signing-key ring. Keys are generated lazily on first use and on schedule.
 *
 * @example
 * const ring = createSigningKeyRing({ store: createMemorySigningKeyStore() });
 * const { keys } = await ring.jwks();
 */
export function createSigningKeyRing(options: SigningKeyRingOptions): SigningKeyRing {
  for (const key of Object.keys(options)) if (!OPTION_KEYS.has(key)) throw new TypeError(`unknown signing key ring option "${key}"`);
  const { store } = options;
  if (typeof store?.load !== 'function' || typeof store.save !== 'function') throw new TypeError('signing key ring: store must implement load() and save()');
  const now = options.now ?? Date.now;
  const rotateEveryMs = positive(options.rotateEveryMs ?? DAY_MS, 'rotateEveryMs');
  const maxTokenTtlSec = positive(options.maxTokenTtlSec ?? 300, 'maxTokenTtlSec');
  const overlapMs = positive(options.overlapMs ?? maxTokenTtlSec * 1000 + OVERLAP_MARGIN_MS, 'overlapMs');
  // A retired key must outlive every token it signed, or verifiers reject valid tokens.
  if (overlapMs < maxTokenTtlSec * 1000) throw new TypeError('signing key ring: overlapMs must be at least maxTokenTtlSec');
  const algorithm = options.algorithm ?? 'ES256';
  if (!ALGORITHMS.has(algorithm)) throw new TypeError('signing key ring: algorithm must be an asymmetric JWS algorithm');

  let keys: StoredSigningKey[] | null = null;
  const imported = new Map<string, Promise<CryptoKey>>();
  // Serialises load/rotate so concurrent callers never generate two keys for one rotation.
  let pending: Promise<unknown> = Promise.resolve();
  const serial = <T>(task: () => Promise<T>): Promise<T> => {
    const run = pending.then(task, task);
    pending = run.catch(() => undefined);
    return run;
  };

  /** Keys sorted newest first, ignoring any created in the future (clock rolled back or a peer ahead). */
  const usable = (list: StoredSigningKey[], at: number): StoredSigningKey[] =>
    list.filter((k) => k.createdAt <= at).sort((a, b) => b.createdAt - a.createdAt);

  const needsRotation = (list: StoredSigningKey[], at: number): boolean => {
    const newest = usable(list, at)[0];
    return newest === undefined || at - newest.createdAt >= rotateEveryMs;
  };

  /** A key retires when its successor is created; it stays published for `overlapMs` after that. */
  const published = (list: StoredSigningKey[], at: number): StoredSigningKey[] =>
    usable(list, at).filter((key, index, sorted) => {
      const successor = sorted[index - 1];
      return successor === undefined || at < successor.createdAt + overlapMs;
    });

  const addKey = async (list: StoredSigningKey[], at: number): Promise<StoredSigningKey[]> => {
    const { privateKey } = await generateKeyPair(algorithm, { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint(publicJwkOf(privateJwk), 'sha256');
    const next = [{ kid, alg: algorithm, createdAt: at, privateJwk }, ...list];
    // Keep keys still published plus any created "in the future" (a peer's clock may be ahead).
    const kept = new Set(published(next, at).map((k) => k.kid));
    return next.filter((k) => kept.has(k.kid) || k.createdAt > at);
  };

  const ensure = async (force: boolean): Promise<StoredSigningKey[]> => {
    const at = now();
    if (keys !== null && !force && !needsRotation(keys, at)) return keys;
    return serial(async () => {
      const time = now();
      // Reload before rotating: another instance sharing the store may have rotated already.
      let list = await store.load();
      if (force || needsRotation(list, time)) {
        const next = await addKey(list, time);
        // Another instance (replica, worker) saved a ring since the load: take theirs, so that
        // every instance signs with and publishes the same keys.
        list = (await store.save(next, list)) ? next : await store.load();
      }
      keys = list;
      for (const kid of imported.keys()) if (!list.some((k) => k.kid === kid)) imported.delete(kid);
      return list;
    });
  };

  const activeKey = async (list: StoredSigningKey[]): Promise<ActiveSigningKey> => {
    const newest = usable(list, now())[0];
    if (newest === undefined) throw new Error('signing key ring: no usable signing key');
    let key = imported.get(newest.kid);
    if (key === undefined) {
      key = importJWK(newest.privateJwk, newest.alg, { extractable: false }) as Promise<CryptoKey>;
      imported.set(newest.kid, key);
      key.catch(() => imported.delete(newest.kid));
    }
    return { kid: newest.kid, alg: newest.alg, key: await key };
  };

  return Object.freeze({
    algorithm,
    maxTokenTtlSec,
    current: async () => activeKey(await ensure(false)),
    rotate: async () => activeKey(await ensure(true)),
    jwks: async () => {
      const list = await ensure(false);
      return { keys: published(list, now()).map((k) => ({ ...publicJwkOf(k.privateJwk), kid: k.kid, alg: k.alg, use: 'sig' as const })) };
    },
  });
}

/** An in-memory store for tests and single-process use. `save` keeps a copy, as a real store would. */
export function createMemorySigningKeyStore(initial: StoredSigningKey[] = []): SigningKeyStore {
  let saved = structuredClone(initial);
  return {
    load: async () => structuredClone(saved),
    save: async (keys, replacing) => {
      const kids = new Set(saved.map((key) => key.kid));
      if (kids.size !== replacing.length || !replacing.every((key) => kids.has(key.kid))) return false;
      saved = structuredClone(keys);
      return true;
    },
  };
}

/** The public part of a JWK, rebuilt from a per-`kty` whitelist of public members. */
function publicJwkOf(jwk: JWK): { kty: string; crv?: string; x?: string; y?: string; n?: string; e?: string } {
  const kty = jwk.kty ?? '';
  const members = PUBLIC_MEMBERS[kty];
  if (members === undefined) throw new Error('signing key ring: unsupported key type');
  const result: Record<string, string> = { kty };
  for (const name of members) {
    const value = (jwk as Record<string, unknown>)[name];
    if (typeof value === 'string') result[name] = value;
  }
  return result as { kty: string };
}

function positive(value: number, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new TypeError(`signing key ring: ${name} must be a positive number`);
  return value;
}

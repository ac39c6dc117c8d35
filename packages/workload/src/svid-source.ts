/**
 * Where mTLS helpers get the workload's current X.509-SVID, trust bundle and deny list: the
 * Workload API client implements {@link SvidSource}; {@link createStaticSvidSource} serves tests
 * and SVIDs kept in files.
 */
import type { TrustBundle } from './trust-bundle.js';

/** An X.509-SVID a workload holds, with its private key. */
export interface X509Svid {
  spiffeId: string;
  /** Leaf first, then the intermediate; PEM. */
  certChainPem: string[];
  /** PKCS#8 PEM. A secret: never log it. */
  privateKeyPem: string;
  /** Epoch ms: the leaf's notAfter. */
  expiresAtMs: number;
  /** Epoch ms. */
  issuedAtMs: number;
}

/** One consistent view of a source. */
export interface SvidSourceState {
  svid: X509Svid;
  bundle: TrustBundle;
  /** SPIFFE ids refused at once (deregistered workloads whose SVIDs have not expired yet). */
  denied: ReadonlySet<string>;
}

/** What mTLS helpers consume. */
export interface SvidSource {
  /** Current SVID and bundle; throws if none yet. */
  current(): SvidSourceState;
  /** Called after every change (rotation, bundle swap, deny list change). Returns unsubscribe. */
  subscribe(listener: () => void): () => void;
  close(): Promise<void>;
}

/** A source whose state the owner sets; `update` merges and notifies subscribers. */
export interface StaticSvidSource extends SvidSource {
  /** Replace some or all of the state (a new object: readers may hold the old one), then notify. */
  update(next: Partial<SvidSourceState>): void;
}

function checkState(state: SvidSourceState): void {
  const { svid, bundle, denied } = state;
  if (typeof svid !== 'object' || svid === null || typeof svid.spiffeId !== 'string' || !Array.isArray(svid.certChainPem) || svid.certChainPem.length === 0 || typeof svid.privateKeyPem !== 'string') {
    throw new TypeError('SvidSource: svid must be an X509Svid (spiffeId, certChainPem, privateKeyPem)');
  }
  if (typeof bundle !== 'object' || bundle === null || typeof bundle.trustDomain !== 'string' || !Array.isArray(bundle.x509Authorities)) {
    throw new TypeError('SvidSource: bundle must be a TrustBundle');
  }
  if (!(denied instanceof Set)) throw new TypeError('SvidSource: denied must be a Set of SPIFFE ids');
}

/**
 * A {@link SvidSource} over a state the caller provides and changes with `update`. Listeners run
 * synchronously after each update; one that throws does not stop the others. After `close`,
 * `current` still answers and listeners are dropped.
 * @throws TypeError for a malformed state.
 */
/**
 * The subscribers of an {@link SvidSource}: `notify` calls each (a throwing one is reported to
 * `onError`, and the others still hear the change); `subscribe` returns the unsubscribe.
 */
export interface SourceListeners {
  subscribe(listener: () => void): () => void;
  notify(): void;
  clear(): void;
}

/** The one listener set every SvidSource (static, agent, Workload API client) uses. */
export function createSourceListeners(onError: (failure: unknown) => void = () => {}): SourceListeners {
  const listeners = new Set<() => void>();
  return {
    subscribe(listener) {
      if (typeof listener !== 'function') throw new TypeError('subscribe: listener must be a function');
      // A wrapper per call: subscribing one function twice gives two independent subscriptions.
      const entry = (): void => listener();
      listeners.add(entry);
      return () => {
        listeners.delete(entry);
      };
    },
    notify() {
      for (const listener of [...listeners]) {
        try {
          listener();
        } catch (failure) {
          // A failing listener must not keep the others from seeing the change.
          try {
            onError(failure);
          } catch {
            // Nor may a failing error reporter.
          }
        }
      }
    },
    clear: () => listeners.clear(),
  };
}

export function createStaticSvidSource(state: { svid: X509Svid; bundle: TrustBundle; denied?: ReadonlySet<string> }): StaticSvidSource {
  let current: SvidSourceState = Object.freeze({ svid: state.svid, bundle: state.bundle, denied: state.denied ?? new Set<string>() });
  checkState(current);
  const listeners = createSourceListeners();
  return {
    current: () => current,
    subscribe: listeners.subscribe,
    update(next) {
      const merged = Object.freeze({ ...current, ...next });
      checkState(merged);
      current = merged;
      listeners.notify();
    },
    async close() {
      listeners.clear();
    },
  };
}

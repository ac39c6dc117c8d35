/**
 * What a local-mode PEP remembers of the newest bundle it accepted, across restarts, so that a
 * bundle older than it (a replay, or a lagging replica) is never taken again, not even by a PEP
 * that has just started.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** The newest bundle accepted: its tenant, policy version and hash, and its `iat` (epoch seconds). */
export interface BundleState {
  tenant: string;
  version: number;
  hash: string;
  issuedAt: number;
}

/**
 * Where the state is kept. `load` resolves undefined when nothing was saved yet; `save` must be
 * durable when it resolves (the bundle is used only after). Either rejecting fails the load.
 *
 * @example
 * ```ts
 * // `kv` is any durable key-value store the service already has.
 * const bundleState: BundleStateStore = {
 *   load: async () => (await kv.get('verity-bundle:acme')) ?? undefined,
 *   save: (state) => kv.set('verity-bundle:acme', state),
 * };
 * ```
 */
export interface BundleStateStore {
  load(): Promise<BundleState | undefined>;
  save(state: BundleState): Promise<void>;
}

/** Whether `value` is a {@link BundleState}. */
export function isBundleState(value: unknown): value is BundleState {
  const state = value as Partial<BundleState> | null;
  return (
    typeof state === 'object' &&
    state !== null &&
    typeof state.tenant === 'string' &&
    Number.isSafeInteger(state.version) &&
    typeof state.hash === 'string' &&
    Number.isSafeInteger(state.issuedAt)
  );
}

/**
 * Why `next` may not replace `accepted`, or null when it may. Issue time orders bundles: a
 * replay was signed before the bundle it would replace. A lower version signed later is taken
 * (re-activating an older version is a new bundle); one version never has two contents.
 */
export function replayReason(accepted: BundleState, next: BundleState): string | null {
  if (next.issuedAt < accepted.issuedAt) return `the policy bundle is older than one already accepted (signed at ${next.issuedAt}, not before ${accepted.issuedAt})`;
  if (next.version === accepted.version && next.hash !== accepted.hash) return `the policy bundle holds other policies than the version ${accepted.version} already accepted`;
  return null;
}

/** A {@link BundleStateStore} in a JSON file, replaced atomically (write, then rename). */
export function bundleStateFile(path: string): BundleStateStore {
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
      const state = JSON.parse(text) as unknown;
      if (!isBundleState(state)) throw new Error('the bundle state file does not hold a bundle state');
      return state;
    },
    async save(state) {
      await mkdir(dirname(path), { recursive: true });
      const temporary = `${path}.${process.pid}.tmp`;
      await writeFile(temporary, `${JSON.stringify(state)}\n`, { mode: 0o600 });
      await rename(temporary, path);
    },
  };
}

/**
 * Loads a policy-store folder and decides against it with the local engine: the one home of
 * what `policy validate`, `policy test`, `policy diff` and `eval` load and how they decide.
 */
import { resolve } from 'node:path';
import { buildPolicyStoreContent, createLocalDecider, isVerityError, splitPolicyFiles } from '@verity/core';
import type { DecisionRequest, Engine, Entity, EntityUid, PolicySource, PolicyStoreContent, TenantSettings } from '@verity/core';
import type { CommandIo } from './command.js';
import { withSources } from './errors.js';
import { readPolicyFolder, type PolicyFolder } from './policy-folder.js';

/**
 * The process's Cedar engine (cedar-wasm on engine threads), imported on first use: only the
 * commands that build or decide policies locally load it, not `verity --help` or the remote ones.
 */
export async function localEngine(): Promise<Engine> {
  const { sharedCedarEngine } = await import('@verity/core/cedar');
  return sharedCedarEngine();
}

export interface LocalStore {
  folder: PolicyFolder;
  engine: Engine;
  content: PolicyStoreContent;
}

/**
 * Reads `dir` (relative to the command's cwd) and builds its content. Parse and validation
 * errors become CliErrors (exit 3) whose diagnostics resolve to `file:line:col`.
 */
export async function loadLocalStore(dir: string, io: CommandIo): Promise<LocalStore> {
  const folder = await withSources({}, () => readPolicyFolder(resolve(io.cwd, dir)));
  const sources: Record<string, string> = { ...folder.files };
  if (folder.schema !== undefined) sources['schema.cedarschema'] = folder.schema;
  const engine = await localEngine();
  const content = await withSources(sources, () =>
    buildPolicyStoreContent(engine, {
      files: folder.files,
      ...(folder.schema === undefined ? {} : { schema: folder.schema }),
      validationMode: folder.validationMode,
      links: folder.links,
    }),
  );
  return { folder, engine, content };
}

/** Where each policy and template of a folder stands, by id (a second split of the files: only coverage and diff ask). */
export async function locatePolicies(store: LocalStore): Promise<Map<string, PolicySource>> {
  const sources = await withSources(store.folder.files, () => splitPolicyFiles(store.engine, store.folder.files));
  return new Map(sources.map((source) => [source.id, source]));
}

/**
 * One request's answer: the engine's decision with its determining and erroring policies, or
 * `error` for a request Verity refuses to decide (its code and message in `errors`).
 */
export interface DecisionOutcome {
  decision: 'allow' | 'deny' | 'error';
  /** The Cedar request as decided (AuthZEN mapped by the settings); absent when refused. */
  request?: { principal: EntityUid; action: EntityUid; resource: EntityUid };
  determiningPolicies: string[];
  errors: Array<{ policyId?: string; message: string }>;
}

/** What a decision runs on: a content, the entities it reads and the tenant settings. */
export interface DecisionStore {
  content: PolicyStoreContent;
  entities: readonly Entity[];
  settings: TenantSettings;
}

export type OutcomeDecider = (request: DecisionRequest) => Promise<DecisionOutcome>;

/**
 * Decide requests against `store` exactly as the PDP would (core's pipeline and engine): a
 * refusal is an `error` outcome, not a throw. Rejects (exit 3) when the entities name one
 * entity twice.
 */
export async function createOutcomeDecider(engine: Engine, store: DecisionStore): Promise<OutcomeDecider> {
  const decider = await withSources({}, () => createLocalDecider({ engine, content: store.content, entities: store.entities, settings: store.settings }));
  return async (request) => {
    try {
      const record = await decider.decide(request);
      const { principal, action, resource } = record;
      return { decision: record.decision, request: { principal, action, resource }, determiningPolicies: record.reasons, errors: record.errors };
    } catch (error) {
      if (!isVerityError(error)) throw error;
      return { decision: 'error', determiningPolicies: [], errors: [{ message: `${error.code}: ${error.message}` }] };
    }
  };
}

/** The store a folder decides with: its content, entities.json (plus `extra`) and verity.json's settings. */
export function folderDecisionStore(store: LocalStore, extra: readonly Entity[] = []): DecisionStore {
  return { content: store.content, entities: [...store.folder.entities, ...extra], settings: store.folder.settings };
}

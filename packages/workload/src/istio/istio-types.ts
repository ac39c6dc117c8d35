/** The Istio importer's public options and result (docs/workload-identity.md, "Istio interop"). */

/** Options of {@link importIstioPolicies}. */
export interface IstioImportOptions {
  /**
   * The SPIFFE trust domain of the tenant's workloads (default `cluster.local`, Istio's own).
   * Istio principals in `cluster.local` are read as principals of this trust domain, and
   * `namespaces` match SPIFFE ids in it.
   */
  trustDomain?: string;
  /** Istio's root namespace (default `istio-system`): its policies apply in every namespace. */
  rootNamespace?: string;
  /**
   * Also emit Istio's implicit allow (default false): a request to a workload that no ALLOW
   * policy selects is allowed unless a DENY policy matches. Off, such requests are denied
   * (Verity denies what no permit allows), which is stricter than the mesh.
   */
  implicitAllow?: boolean;
}

/** An mTLS mode from a PeerAuthentication (`inherit`: UNSET or no `mtls`, the parent's mode applies). */
export type IstioMtlsMode = 'strict' | 'permissive' | 'disable' | 'inherit';

/** One PeerAuthentication, as Verity's mTLS mode for the workloads it selects. */
export interface IstioPeerAuthentication {
  name: string;
  namespace: string;
  mode: IstioMtlsMode;
  /** `spec.selector.matchLabels`; absent: every workload of the namespace (of the mesh in the root namespace). */
  selector?: Record<string, string>;
  /** `spec.portLevelMtls`: a mode per port number. */
  portLevelMtls?: Record<string, IstioMtlsMode>;
}

/** What {@link importIstioPolicies} produces. */
export interface IstioImportResult {
  /** Cedar policies (permit for ALLOW, forbid for DENY), each with `@id("istio:<ns>/<name>/rule<i>")`. */
  policies: string;
  /**
   * Observe-only Cedar policies from AUDIT policies: a permit means "Istio would mark this
   * request for audit". Not meant for the enforcing policy set; empty when there are none.
   */
  auditPolicies: string;
  /** A Cedar schema for the vocabulary the policies use; absent when they read token claims (principal attributes it cannot know). */
  schema?: string;
  /** What was skipped or translated more strictly than Istio enforces it; one line each. */
  warnings: string[];
  peerAuthentication: IstioPeerAuthentication[];
}

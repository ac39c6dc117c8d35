/**
 * `@verity/workload/core`: SPIFFE ids, trust bundles, the CA, X.509- and JWT-SVIDs and SVID
 * proofs, without the mTLS helpers, the agent, the Workload API or the Istio importer (and so
 * without undici and yaml): what the PDP needs. `@verity/workload` re-exports all of it.
 */
export * from './spiffe-id.js';
export * from './trust-bundle.js';
export * from './x509-ca.js';
export * from './x509-svid.js';
export * from './svid-proof.js';
export * from './jwt-svid.js';
export * from './svid-source.js';

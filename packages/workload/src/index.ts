/** @verity/workload: SPIFFE workload identity for Verity (see docs/workload-identity.md). */
export {};
export * from './istio/index.js';

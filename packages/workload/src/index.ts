/** @verity/workload: SPIFFE workload identity for Verity (see docs/workload-identity.md). */
export * from './spiffe-id.js';
export * from './trust-bundle.js';
export * from './x509-ca.js';
export * from './x509-svid.js';
export * from './svid-proof.js';
export * from './jwt-svid.js';
export * from './svid-source.js';
export * from './peer-identity.js';
export * from './mtls-server.js';
export * from './mtls-client.js';
export * from './xfcc.js';
export * from './istio/index.js';
export * from './agent.js';
export * from './workload-api-server.js';
export * from './workload-api-client.js';

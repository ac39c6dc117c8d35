/** @verity/workload: SPIFFE workload identity for Verity (see docs/workload-identity.md). */
export * from './core.js';
export * from './peer-identity.js';
export * from './mtls-server.js';
export * from './mtls-client.js';
export * from './xfcc.js';
export * from './istio/index.js';
export * from './agent.js';
export * from './workload-api-server.js';
export * from './workload-api-client.js';

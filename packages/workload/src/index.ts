/** @verity/workload: SPIFFE workload identity for Verity (see docs/workload-identity.md). */
export {};
export * from './agent.js';
export * from './workload-api-server.js';
export * from './workload-api-client.js';

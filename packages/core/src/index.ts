/** @verity/core: types, engine port, Cedar adapter, AuthZEN mapping, audit chain and errors. */
export * from './errors.js';
export * from './types.js';
export * from './engine.js';
export * from './cedar-engine.js';
export * from './canonical-json.js';
export * from './audit-chain.js';
export * from './authzen.js';
export * from './cedar-value.js';
export * from './entity-uid.js';
export * from './entity-slice.js';
export * from './request-entities.js';
export * from './policy-content.js';
export * from './local-decider.js';
export * from './source-position.js';
export * from './policy-text-limits.js';

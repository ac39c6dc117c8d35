/** @verity/core: types, engine port, Cedar adapter, decisions, audit chain and errors. */
export * from './errors.js';
export * from './types.js';
export * from './engine.js';
export * from './canonical-json.js';
export * from './audit-chain.js';

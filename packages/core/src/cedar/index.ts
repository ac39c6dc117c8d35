/** @verity/core/cedar: the Cedar adapter of the Engine port (cedar-wasm on engine threads). */
export * from './cedar-engine.js';

/** Token verification's public API, for the lead to merge into index.ts. */
export * from './identity-source.js';
export * from './key-resolver.js';
export * from './source-fetch.js';
export * from './token-verifier.js';
export * from './claim-mapping.js';
export * from './verified-token-cache.js';
export * from './jwt-errors.js';
export * from './bearer-token.js';
export * from './token-authenticator.js';

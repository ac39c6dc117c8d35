/** The token service's public API (signing keys, issuing, client authentication, grants, revocation). */
export * from './signing-keys.js';
export * from './token-issuer.js';
export * from './client-auth.js';
export * from './token-exchange.js';
export * from './revocation-list.js';
export * from './job-id.js';
export * from './sts-source.js';
export * from './txn-token.js';
export * from './txn-token-grant.js';

/** @verity/identity: user-token verification, the token service, revocation, secrets at rest. */
export * from './types.js';
export * from './verify-index.js';
export * from './secret-box.js';
export * from './sts-index.js';
export * from './policy-bundle.js';
export * from './audit-checkpoint.js';
export * from './receipt.js';
export * from './security-event-token.js';

/** @verity/enforce: the policy enforcement point — decision sources, cache, enforcer, propagation. */
export type { Decision, DecisionRequest, DecisionSource, EntityRef, PeerIdentity, StepUp } from './types.js';
export { ENFORCE_ERROR_CODES, EnforceError, isEnforceError, type EnforceErrorCode } from './errors.js';
export { createRemoteDecisionSource, type RemoteDecisionSourceOptions } from './remote-source.js';
export { createDecisionCache, tokenFingerprint, type CacheKeyInput, type DecisionCache, type DecisionCacheOptions } from './decision-cache.js';
export { createChangeFollower, type Change, type ChangeFollower, type ChangeFollowerOptions, type ChangeKind } from './change-follower.js';
export { createEnforcer, requestIdOf, type DecisionEvent, type EnforceInput, type EnforceResult, type Enforcer, type EnforcerOptions, type VerifiedIdentity } from './enforcer.js';
export { bearerToken, resolveRouteRule, type RequestFacts, type RouteRule } from './route-rule.js';
export { downstreamHeaders, isSpoofableHeader, nextTraceparent, SPOOFABLE_HEADERS, stripSpoofableHeaders, type DownstreamIdentity } from './propagation.js';
export { refusalBody, refusalHeaders } from './refusal.js';
export { createLocalDecisionSource, type LocalDecisionSource, type LocalDecisionSourceOptions } from './local-source.js';
export { createBundleLoader, type BundleLoader, type BundleLoaderOptions, type BundleState, type BundleStateStore } from './bundle-loader.js';
export { createAuditShipper, type AuditShipper, type AuditShipperEvent, type AuditShipperOptions, type AuditShipperStats } from './audit-shipper.js';
export { createTokenExchanger, type ExchangeOptions, type TokenExchangeError, type TokenExchanger, type TokenExchangerOptions } from './token-exchanger.js';
export { revokeJob, runJob, type JobCredentials, type JobGrant, type JobRevokeOptions, type RunJobOptions } from './run-job.js';
export { createTxnTokenRequester, type TxnTokenRequest, type TxnTokenRequester, type TxnTokenRequesterOptions } from './txn-token-requester.js';

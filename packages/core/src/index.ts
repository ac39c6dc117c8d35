/**
 * @verity/core: types, the engine port, the one decision pipeline, the AuthZEN mapping, the
 * audit chain and errors. It loads no engine: the Cedar adapter is `@verity/core/cedar`.
 */
export * from './errors.js';
export * from './types.js';
export * from './limits.js';
export * from './engine.js';
export * from './canonical-json.js';
export * from './json.js';
export * from './records.js';
export * from './audit-chain.js';
export * from './authzen.js';
export * from './cedar-value.js';
export * from './entity-uid.js';
export * from './hierarchy-cycles.js';
export * from './entity-slice.js';
export * from './request-entities.js';
export * from './policy-analysis.js';
export * from './policy-content.js';
export * from './decision-pipeline.js';
export * from './decision-input.js';
export * from './local-decider.js';
export * from './source-position.js';
export * from './policy-text-limits.js';
export * from './wire-format.js';
export * from './request-path.js';
export * from './risk.js';
export * from './device-posture.js';
export * from './risk-assessment.js';
export * from './policy-annotations.js';
export * from './explain.js';
export * from './cidr.js';
export * from './location-table.js';
export * from './threat-lists.js';
export * from './activity.js';
export * from './activity-state.js';

/** @verity/server: the Verity PDP service. */
export { startServer, type RunningServer, type StartServerOptions } from './start-server.js';
export { startCluster, type RunningCluster, type StartClusterOptions } from './cluster.js';
export type { CloseOptions, StopOutcome } from './graceful-stop.js';
export { resolveConfig, type ServerConfig } from './config.js';
export { createComponents } from './components.js';
export { buildApp } from './http/app.js';
export type { Components } from './components.js';
export { openDatabase } from './open-database.js';
export { loadTenantFromFolder, ensureDemoTenant, DEMO_FOLDER } from './demo.js';
export { readPolicyFolder } from './policy-folder.js';
export type { PolicyFolder } from './policy-folder.js';
export { hashToken, generateToken, CREDENTIAL_ROLES, CREDENTIAL_ROLE_LIST, isCredentialRole } from './admin/credentials.js';
export { SYSTEM_TENANT } from './admin/system-tenant.js';
export { verifyAuditCheckpoint, type AuditCheckpoint } from '@verity/identity';
export { createTokenEndpoint, type TokenEndpoint, type TokenEndpointOptions } from './identity/token-endpoint.js';
export { createMetrics, MAX_TENANT_LABELS, MAX_TIER_LABELS, OTHER_LABEL, type Metrics, type MetricSources, type CacheStats } from './metrics.js';
export { startTracing, traceDecision, tracesExporterOf, type Tracing } from './tracing.js';
export type { ObservedDenials } from '@verity/store';

/** The Istio importer: AuthorizationPolicy and PeerAuthentication YAML to Cedar and mTLS modes. */
export { importIstioPolicies } from './import-istio.js';
export type { IstioImportOptions, IstioImportResult, IstioMtlsMode, IstioPeerAuthentication } from './istio-types.js';
export { MAX_ISTIO_YAML_LENGTH } from './istio-yaml.js';

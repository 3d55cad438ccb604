export { PgcertsError, DownloadError, isPgcertsError, type ErrorCode } from './errors.js';
export {
  Registry,
  loadRegistry,
  parseRegistry,
  getBundledRegistry,
  validateRegistryData,
  BUNDLED_REGISTRY_PATH,
  SUPPORTED_SCHEMA_RANGE,
} from './registry.js';
export { normalizeHost, HostMatcher, type NormalizedHost, type RuleMatch } from './hostname.js';
export { parseConnectionTarget, parseHostPort, secureConnectionString, type ConnectionTarget, type HostSpec } from './connection.js';
export {
  lookup,
  lookupHost,
  type LookupResult,
  type LookupOptions,
  type HostMatch,
  type SelectedSource,
  type RootSummary,
} from './lookup.js';
export type * from './registry-types.js';
export { getPackageVersion } from './version.js';
export { summarizeCertificate, describeKey, isSelfSigned, type CertificateSummary } from './certificate.js';

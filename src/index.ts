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
export { normalizeHost, type NormalizedHost } from './hostname.js';
export { HostMatcher, type RuleMatch } from './host-matcher.js';
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
export { getSignatureAlgorithm } from './certificate.js';
export { parseCertificates, toPem, type ParseCertificatesOptions, type CertificateFormat } from './pem.js';
export {
  validateCertificates,
  type ValidateOptions,
  type ValidationResult,
  type CertificateReport,
} from './validate.js';
export {
  BundleCache,
  getCacheDir,
  type BundleCacheOptions,
  type CacheEntry,
  type CacheKey,
  type CacheListing,
  type CacheMeta,
  type CacheMetaFields,
  type CachedCertificate,
  type CacheProblem,
  type CacheTouch,
  type CacheWriteStep,
} from './cache.js';
export {
  fetchBundle,
  fetchAccountBundle,
  describeAccountCredentials,
  importBundle,
  removeImport,
  type AccountFetchOptions,
  type AccountCredentialReport,
  type BundleOptions,
  type FetchOptions,
  type ImportOptions,
  type BundleResult,
  type ReportedCertificate,
} from './fetch.js';
export {
  getSslRootCert,
  getSslRootCertForProvider,
  getPgSslOptions,
  getSecureConnectionString,
  type ResolveOptions,
  type RootCertForHost,
  type PgSslOptions,
} from './resolve.js';
export { download, applyMirror, type DownloadOptions, type DownloadResult } from './download.js';
export {
  diagnoseConnection,
  diagnoseAndFixConnection,
  resolveCnames,
  type Diagnosis,
  type DiagnoseOptions,
  type DiagnosedHost,
  type ClientBehaviour,
  type Finding,
  type FindingCode,
  type FindingSeverity,
  type FindingClient,
  type SettingSource,
} from './doctor.js';
export { redactConnectionString } from './connection.js';
export {
  probeServer,
  type ProbeOptions,
  type ProbeReport,
  type ProbeStatus,
  type ProbeProblem,
  type ProbeProblemCode,
  type ServedCertificate,
  type TrustVerdict,
  type BundleVerdict,
  type AnchorCertificate,
  type PinnedInfo,
} from './probe.js';
export {
  runChecks,
  checkServer,
  parseHostList,
  findRegistryAge,
  CHECK_EXIT_CODES,
  DEFAULT_CHECK_CONCURRENCY,
  type ServerCheck,
  type CheckOptions,
  type CheckReport,
  type CheckStatus,
  type CheckTarget,
  type CheckTargetKind,
  type CheckProblem,
  type CheckCode,
  type CheckedCertificate,
  type CheckPin,
  type CheckRegistryInfo,
  type CheckHost,
} from './check.js';
export { formatText, formatJson, formatPrometheus, formatProbePrometheus, escapeLabelValue, type FormatTextOptions, type ProbeMetricsOptions } from './check-format.js';
export {
  createExporter,
  startExporter,
  formatAlertRules,
  DEFAULT_SERVE_PORT,
  type Exporter,
  type ExporterOptions,
  type StartExporterOptions,
  type RunningExporter,
} from './serve.js';
export { createLimiter, type Limiter } from './limiter.js';
export { STATUS_EXIT_CODES, rankStatus, worseStatus, type MonitoringStatus } from './status.js';
export { diagnoseForDriver, type DriverDiagnosis } from './doctor.js';
export {
  DRIVERS,
  findDriver,
  getDriver,
  evaluateDriver,
  fixForDriver,
  type DriverId,
  type DriverData,
  type DriverFact,
  type DriverRules,
  type DriverBehaviour,
  type DriverInput,
  type DriverFix,
  type ModeEffect,
} from './drivers.js';
export {
  BUNDLE_FORMATS,
  DEFAULT_TRUSTSTORE_PASSWORD,
  getBundleFormat,
  toBase64,
  toKubernetesSecret,
  toKubernetesConfigMap,
  checkManifestNames,
  toPkcs12Truststore,
  type BundleFormat,
  type ManifestOptions,
  type Pkcs12Options,
} from './bundle-formats.js';
export {
  loadShippedRoots,
  findShippedBundle,
  listSourcePins,
  SHIPPED_ROOTS_PATH,
  type ShippedRoots,
  type ShippedCertificate,
  type ShippedBundle,
} from './shipped-roots.js';
export { buildMirror, listMirrorSources, findMirrorPath, type MirrorBuild, type MirrorFile, type MirrorOptions, type MirrorSkip, type MirrorSource } from './mirror.js';
export { findRotationWarnings, type RotationWarning } from './rotations.js';
export { findRenewedIntermediates } from './validate.js';

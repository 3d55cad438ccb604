/** libpq sslmode values, weakest first. */
export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

/** How a provider's servers can be trusted. */
export type TrustKind = 'bundle' | 'public' | 'account' | 'none';

/** Where a registry fact comes from. */
export interface Cite {
  /** Keys into the provider's `references`. */
  refs: string[];
  /** ISO date (YYYY-MM-DD) the fact was last checked against the cited material. */
  checked: string;
  /** True only when a primary reference (the provider's own docs, API or file) states the fact. */
  confirmed: boolean;
}

export interface Reference {
  title: string;
  url: string;
  primary: boolean;
}

export interface Note {
  text: string;
  cite: Cite;
}

export interface HostRule {
  kind: string;
  /** Lower-case DNS suffix, matched on a label boundary with at least one more label. */
  suffix: string;
  /** Anchored regular expression over the whole normalised host. */
  pattern?: string;
  priority: number;
  partition?: string;
  trust: string;
  examples: string[];
  /** Other hosts share this name form (plain EC2 names): a match is a likely guess. */
  guess?: boolean;
  note?: string;
  cite: Cite;
}

export interface Source {
  id: string;
  /** May contain `{region}`. */
  url: string;
  format: 'pem' | 'der' | 'pkcs7';
  /** Regions for which a `{region}` URL exists. */
  regions?: string[];
  /** Other hosts the URL may redirect to; without it, only redirects on the URL's own host are followed. */
  redirectHosts?: string[];
  cite: Cite;
}

export interface Constraints {
  subject: string;
  selfSigned: boolean;
  ca: boolean;
  keyTypes: Array<'rsa' | 'ec'>;
}

/**
 * Schema 1.2: what an unpinned intermediate CA must meet to be accepted (a renewal the registry
 * has not learned yet); it must also be a CA signed by a pinned root of the same source in the file.
 */
export interface IntermediateConstraints {
  /** Regular expression over the one-line subject. */
  subject: string;
  keyTypes: Array<'rsa' | 'ec'>;
  /** The longest validity (notAfter minus notBefore) accepted. */
  maxValidityDays: number;
  note?: string;
  cite: Cite;
}

/** Schema 1.2: a date by which the provider changes (or must change) the certificates of some trust entries. */
export interface Rotation {
  /** YYYY-MM-DD. */
  date: string;
  trust: string[];
  text: string;
  cite: Cite;
}

export interface ObtainStep {
  method: 'api' | 'cli' | 'console' | 'download';
  how: string;
  auth?: string;
  output?: string;
  cite: Cite;
}

export interface HistoryEntry {
  url: string;
  status: 'expired-content' | 'retired' | 'replaced' | 'unknown';
  text: string;
  cite: Cite;
}

export interface Trust {
  id: string;
  kind: TrustKind;
  /** Recommended sslmode; for `none`, the strongest mode that works. */
  sslmode: SslMode;
  /** Whether `sslrootcert=system` (PostgreSQL 16+) verifies these servers. */
  systemTrustStore: boolean;
  partition?: string;
  summary: string;
  /** `bundle`: alternatives in order of preference (first applicable wins). */
  sources?: Source[];
  unpinned?: 'reject' | 'constraints';
  constraints?: Constraints;
  intermediates?: IntermediateConstraints;
  scope?: 'instance' | 'cluster' | 'project' | 'team' | 'account' | 'provider';
  obtain?: ObtainStep[];
  reason?: string;
  alternative?: string;
  history?: HistoryEntry[];
  cite: Cite;
}

export type CertificateStatus = 'current' | 'expired' | 'retired';

export interface PinnedCertificate {
  /** Upper-case colon-separated SHA-256 of the DER, as Node's `fingerprint256`. */
  sha256: string;
  subject: string;
  notBefore: string;
  notAfter: string;
  key: string;
  status: CertificateStatus;
  /** Ids of the trust entries whose bundles hold this certificate. */
  trust: string[];
  region?: string;
  url?: string;
  format?: 'pem' | 'der';
  /** Other hosts `url` may redirect to, as for a source. */
  redirectHosts?: string[];
  note?: string;
  cite: Cite;
}

export interface Provider {
  id: string;
  name: string;
  aliases: string[];
  docs: Array<{ title: string; url: string }>;
  references: Record<string, Reference>;
  hosts: HostRule[];
  trust: Trust[];
  certificates: PinnedCertificate[];
  notes: Note[];
  /** Schema 1.2: the registry's calendar of rotations. */
  rotations?: Rotation[];
}

/** The built registry file (`registry/registry.json`). */
export interface RegistryData {
  schemaVersion: string;
  version: string;
  /** SHA-256 of the canonical provider data; changes exactly when the data changes. */
  contentSha256: string;
  providers: Provider[];
}

import type { KeyObject, X509Certificate } from 'node:crypto';
import { getSignatureAlgorithm, summarizeCertificate, type CertificateSummary } from './certificate.js';
import { PgcertsError } from './errors.js';
import type { Constraints, PinnedCertificate, Provider, Trust } from './registry-types.js';

export interface ValidateOptions {
  provider: Provider;
  trust: Trust;
  /** The region of a regional source; pins with another region do not apply to it. Omit for a global source. */
  region?: string;
  /** The source must hold exactly this one pinned certificate (a public root with its own URL). */
  single?: PinnedCertificate;
  /** The clock, injected. */
  now: Date;
  /** Accept pinned certificates only. */
  strict?: boolean;
  /** Keep expired and not-yet-valid certificates in the output. */
  keepExpired?: boolean;
  /** Warn about certificates that expire within this many days (30 unless given). */
  warnDays?: number;
  /** `pgcerts import` of a per-cluster CA: when nothing is pinned for the trust, any valid CA is fine. */
  anyCa?: boolean;
}

export interface CertificateReport {
  summary: CertificateSummary;
  signatureAlgorithm: string;
  /** The fingerprint is one the registry pins for this trust (and region). */
  pinned: boolean;
  status: 'valid' | 'expired' | 'not-yet-valid';
  /** Whole days from `now` to `notAfter`; negative once expired. */
  expiresInDays: number;
  warnings: string[];
}

export interface ValidationResult {
  /** The certificates to trust, in input order, without duplicates. */
  kept: X509Certificate[];
  /** One report per distinct certificate, in input order. */
  reports: CertificateReport[];
  /** Expired or not-yet-valid certificates left out of `kept`. */
  dropped: CertificateReport[];
  /** Kept certificates that the registry does not pin ("new"), accepted by constraints or `anyCa`. */
  added: CertificateReport[];
  /** How many repeated certificates were removed. */
  duplicates: number;
  /** Every warning, each naming its certificate. */
  warnings: string[];
  /** The earliest `notAfter` among the kept certificates (ISO-8601). */
  earliestExpiry?: string;
}

const DAY_MS = 86_400_000;
const WEAK_SIGNATURE = /^(?:md2|md5|sha1)With|^ecdsa-with-SHA1$|^dsa-with-SHA1$/;

/**
 * Check a downloaded or imported set of CA certificates against the registry and decide which to
 * trust. Duplicates are removed; expired and not-yet-valid certificates are dropped (kept with
 * `keepExpired`); weak keys, weak signatures and near expiry are warnings.
 *
 * The whole set is refused when any certificate is not a CA, is a self-signed root whose
 * signature does not verify, carries the name of a pinned certificate with another fingerprint,
 * is an intermediate whose issuer is missing (unless pinned), or, among those that would be
 * kept, is not pinned and not allowed by the trust entry's constraints (`strict` allows none,
 * `anyCa` allows any CA when the trust pins nothing, within its constraints if it has any).
 * Unpinned certificates that are dropped for their dates only earn a warning.
 *
 * @throws {PgcertsError} `VALIDATION_FAILED` naming the provider, the certificate and the next step.
 */
export function validateCertificates(certs: X509Certificate[], options: ValidateOptions): ValidationResult {
  const { provider, trust, single } = options;
  const now = options.now.getTime();
  const warnDays = options.warnDays ?? 30;
  const context = `Provider "${provider.id}", trust "${trust.id}"${options.region === undefined ? '' : `, region "${options.region}"`}`;
  const fail = (message: string): PgcertsError => new PgcertsError('VALIDATION_FAILED', `${context}: ${message}.`);
  const update = 'Update pgcerts (`npm install -g pgcerts@latest`); if the newest version still refuses it, report it';

  const unique: X509Certificate[] = [];
  const seen = new Set<string>();
  for (const cert of certs) {
    if (seen.has(cert.fingerprint256)) continue;
    seen.add(cert.fingerprint256);
    unique.push(cert);
  }
  const duplicates = certs.length - unique.length;

  const trustPins = provider.certificates.filter((pin) => pin.trust.includes(trust.id));
  // A global source (no region) holds every region's certificates.
  const applies = (pin: PinnedCertificate): boolean =>
    pin.region === undefined || options.region === undefined || pin.region === options.region;
  const pins = new Map((single ? [single] : trustPins.filter(applies)).map((pin) => [pin.sha256, pin]));
  const pinsByName = new Map<string, PinnedCertificate[]>();
  for (const pin of single ? [...trustPins, single] : trustPins) {
    const name = canonicalName(splitSubject(pin.subject));
    pinsByName.set(name, [...(pinsByName.get(name) ?? []), pin]);
  }

  const reports: CertificateReport[] = unique.map((cert) => {
    // A pinned fingerprint means these are the very bytes the registry vouches for, so their
    // self-signature needs no new check; every other self-signed certificate is verified.
    const pin = pins.get(cert.fingerprint256);
    const summary = summarizeCertificate(cert, { verifySignature: pin === undefined });
    const label = describe(summary);

    const namesakes = pinsByName.get(canonicalName(cert.subject.split('\n'))) ?? [];
    const [namesake] = namesakes;
    if (namesake && !namesakes.some((p) => p.sha256 === summary.sha256)) {
      throw fail(`certificate ${label} carries the name of pinned "${commonName(namesake.subject)}" (SHA-256 ${namesake.sha256}) but its fingerprint differs: a forgery, or a rotation the registry must learn first. ${update}`);
    }
    if (!cert.ca) {
      throw fail(`certificate ${label} is not a CA certificate (a server certificate saved as the CA?), and a CA bundle holds CA certificates only. Use the provider's CA bundle: \`pgcerts show ${provider.id}\` lists its sources`);
    }
    if (cert.subject === cert.issuer) {
      if (!summary.selfSigned) {
        throw fail(`self-signed certificate ${label} does not verify with its own key: it is forged or damaged. Download it again from the source \`pgcerts show ${provider.id}\` lists`);
      }
    } else if (!pin && !unique.some((issuer) => issuer !== cert && issuer.subject === cert.issuer && verifies(cert, issuer.publicKey))) {
      throw fail(`intermediate certificate ${label} is not pinned and its issuer "${commonName(summary.issuer)}" is not in the set, so it cannot be checked. Add the issuing CA to the file, or use the root CA instead`);
    }

    const notBefore = Date.parse(summary.notBefore);
    const notAfter = Date.parse(summary.notAfter);
    const status = now < notBefore ? 'not-yet-valid' : now > notAfter ? 'expired' : 'valid';
    const expiresInDays = Math.floor((notAfter - now) / DAY_MS);
    const signatureAlgorithm = getSignatureAlgorithm(cert);
    const warnings: string[] = [];
    if (status === 'expired') warnings.push(`expired on ${summary.notAfter.slice(0, 10)}`);
    if (status === 'not-yet-valid') warnings.push(`not valid before ${summary.notBefore.slice(0, 10)}`);
    if (status === 'valid' && expiresInDays < warnDays) warnings.push(`expires in ${expiresInDays} days, on ${summary.notAfter.slice(0, 10)}`);
    const rsaBits = /^RSA (\d+)$/.exec(summary.key);
    if (rsaBits && Number(rsaBits[1]) < 2048) warnings.push(`weak key: ${summary.key} (under 2048 bits)`);
    if (WEAK_SIGNATURE.test(signatureAlgorithm)) warnings.push(`weak signature algorithm: ${signatureAlgorithm}`);
    if (pin?.status === 'retired') warnings.push('the registry marks it retired: the provider no longer uses it');
    return { summary, signatureAlgorithm, pinned: pin !== undefined, status, expiresInDays, warnings };
  });

  if (single) {
    if (!seen.has(single.sha256)) {
      throw fail(`the source does not hold pinned "${commonName(single.subject)}" (SHA-256 ${single.sha256}); it holds ${describeAll(reports)}. Check the URL against \`pgcerts show ${provider.id}\``);
    }
    const others = reports.filter((r) => r.summary.sha256 !== single.sha256);
    if (others.length > 0) {
      throw fail(`the source of pinned "${commonName(single.subject)}" must hold that certificate only, but also holds ${describeAll(others)}. Check the URL against \`pgcerts show ${provider.id}\``);
    }
  }

  const kept: X509Certificate[] = [];
  const dropped: CertificateReport[] = [];
  const added: CertificateReport[] = [];
  const warnings: string[] = [];
  reports.forEach((report, index) => {
    const cert = unique[index] as X509Certificate;
    const label = describe(report.summary);
    const keep = report.status === 'valid' || options.keepExpired === true;
    if (!report.pinned) {
      const elsewhere = trustPins.find((pin) => pin.sha256 === report.summary.sha256);
      if (elsewhere?.region !== undefined) report.warnings.push(`pinned for region ${elsewhere.region}, not for this source`);
      const refusal = keep ? refuseUnpinned(report, options, trustPins.length > 0) : undefined;
      if (refusal) throw fail(`certificate ${label} ${refusal}`);
      if (!keep) report.warnings.push('not pinned');
    }
    if (keep) {
      kept.push(cert);
      if (!report.pinned) added.push(report);
    } else {
      dropped.push(report);
    }
    if (keep) warnings.push(...report.warnings.map((warning) => `${label}: ${warning}`));
  });
  if (dropped.length > 0) {
    warnings.push(`left out ${dropped.length} expired or not yet valid certificate${dropped.length === 1 ? '' : 's'}: ${describeAll(dropped)}`);
  }

  if (kept.length === 0) {
    throw fail(`nothing left to trust: all ${reports.length} certificates are expired or not yet valid (${describeAll(dropped)}). The source may serve an outdated bundle: compare it with \`pgcerts show ${provider.id}\`, or update pgcerts`);
  }
  const earliest = Math.min(...kept.map((cert) => Date.parse(cert.validTo)));
  return { kept, reports, dropped, added, duplicates, warnings, earliestExpiry: new Date(earliest).toISOString() };
}

/** Why an unpinned certificate that would be kept is refused, or undefined when it is accepted. */
function refuseUnpinned(report: CertificateReport, options: ValidateOptions, hasPins: boolean): string | undefined {
  const { trust, provider } = options;
  const update = 'Update pgcerts (`npm install -g pgcerts@latest`) so its registry knows the certificate';
  if (options.strict) return `is not pinned, and strict mode accepts pinned certificates only. ${update}, or run without --strict`;
  const anyCa = options.anyCa === true && !hasPins;
  if (!anyCa && trust.unpinned !== 'constraints') {
    return `is not pinned, and provider "${provider.id}" accepts pinned certificates only. ${update}; if the newest version still refuses it, report it`;
  }
  if (!trust.constraints) return anyCa ? undefined : `is not pinned and the registry gives no constraints for it. ${update}`;
  const broken = brokenConstraints(report, trust.constraints);
  if (broken.length === 0) return undefined;
  return `is not pinned and breaks the constraints for provider "${provider.id}" (${broken.join('; ')}). Check that the file is the provider's CA, or ${update.charAt(0).toLowerCase()}${update.slice(1)}`;
}

function brokenConstraints(report: CertificateReport, constraints: Constraints): string[] {
  const { summary } = report;
  const broken: string[] = [];
  if (!new RegExp(constraints.subject).test(summary.subject)) broken.push('its subject does not match the expected names');
  if (constraints.selfSigned && !summary.selfSigned) broken.push('it is not self-signed');
  if (constraints.ca && !summary.ca) broken.push('it is not a CA');
  const keyType = summary.key.startsWith('RSA ') ? 'rsa' : summary.key.startsWith('EC ') ? 'ec' : summary.key.toLowerCase();
  if (!(constraints.keyTypes as string[]).includes(keyType)) broken.push(`its key type ${summary.key} is not one of ${constraints.keyTypes.join(', ')}`);
  return broken;
}

function verifies(cert: X509Certificate, key: KeyObject): boolean {
  try {
    return cert.verify(key);
  } catch {
    // A key of another type (EC issuer, RSA signature) throws instead of returning false.
    return false;
  }
}

/** Split a one-line subject (`C=US, O=Example\, Inc., CN=x`) back into its attributes. */
function splitSubject(subject: string): string[] {
  return subject.split(/(?<!\\), /);
}

/** Attribute order does not matter here: a reordered copy of a pinned name is still that name. */
function canonicalName(attributes: string[]): string {
  return [...attributes].sort().join('\n');
}

function commonName(subject: string): string {
  const cn = splitSubject(subject).reverse().find((attribute) => attribute.startsWith('CN='));
  return cn === undefined ? subject : cn.slice(3).replace(/\\(.)/g, '$1');
}

function describe(summary: CertificateSummary): string {
  return `"${commonName(summary.subject)}" (SHA-256 ${summary.sha256})`;
}

function describeAll(reports: CertificateReport[]): string {
  const names = reports.slice(0, 3).map((r) => `"${commonName(r.summary.subject)}"`);
  if (reports.length > 3) names.push(`${reports.length - 3} more`);
  return names.length === 0 ? 'nothing' : names.join(', ');
}

import type { KeyObject, X509Certificate } from 'node:crypto';
import { getKeyIdentifiers, getSignatureAlgorithm, summarizeCertificate, type CertificateSummary } from './certificate.js';
import { PgcertsError, UPDATE_HOW } from './errors.js';
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
  /** Give up (a `VALIDATION_FAILED` naming the limit) when validation takes longer than this; no limit unless given. */
  timeoutMs?: number;
  /** Monotonic milliseconds for `timeoutMs`, injected by tests; `performance.now` unless given. */
  monotonicNow?: () => number;
}

export interface CertificateReport {
  summary: CertificateSummary;
  /**
   * For a new (unpinned) intermediate accepted under the trust's `intermediates` constraints:
   * the pinned root that signed it, as `"<common name>" (SHA-256 ...)`.
   */
  renewedFrom?: string;
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
  /**
   * Kept certificates that the registry does not pin ("new", or unpinned), accepted by constraints
   * or `anyCa`; each has an `unpinned: ...` warning.
   */
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
 * More CA certificates than this with one subject name make a set hostile or broken: real bundles
 * hold each name once, or a few times across a re-key or cross-sign. The limit also bounds the
 * signature checks an intermediate's issuer search costs.
 */
export const MAX_SAME_NAME = 8;

/** A pinned certificate with its provider. */
export interface PinRef {
  provider: Provider;
  pin: PinnedCertificate;
}

/**
 * Check a downloaded or imported set of CA certificates against the registry and decide which to
 * trust. Duplicates are removed; expired and not-yet-valid certificates are dropped (kept with
 * `keepExpired`); weak keys, weak signatures (except a self-signed root's own, which no client
 * relies on) and near expiry are warnings.
 *
 * Pins are matched by what a user sees, the common name (and the subject key identifier of the
 * pinned certificates in the set), not by the whole subject: a certificate with a pinned CN or key
 * identifier and another fingerprint is a lookalike (`L=Seattle2`, an added `serialNumber`) and
 * refused.
 *
 * The whole set is refused when any certificate is such a lookalike, is not a CA, is a
 * self-signed root whose signature does not verify, is an intermediate whose issuer is missing
 * (unless pinned), shares its name with more than {@link MAX_SAME_NAME} others, or, among those
 * that would be kept, is not pinned and not allowed: `strict` allows none, nor does a regional
 * source whose region the registry pins, nor a trust entry without constraints (`anyCa` allows
 * any CA when the trust pins nothing, within its constraints if it has any). Every unpinned
 * certificate that is accepted carries an `unpinned: ...` warning. Unpinned certificates that are
 * dropped for their dates only earn a warning. Issuers are found through an index by name and
 * key identifier, so a set of n certificates costs O(n) signature checks.
 *
 * @throws {PgcertsError} `VALIDATION_FAILED` naming the provider, the certificate and the next step.
 */
export function validateCertificates(certs: X509Certificate[], options: ValidateOptions): ValidationResult {
  const { provider, trust, single } = options;
  const now = options.now.getTime();
  const warnDays = options.warnDays ?? 30;
  const context = `Provider "${provider.id}", trust "${trust.id}"${options.region === undefined ? '' : `, region "${options.region}"`}`;
  const fail = (message: string): PgcertsError => new PgcertsError('VALIDATION_FAILED', `${context}: ${message}.`);
  const update = `Update pgcerts (${UPDATE_HOW}); if the newest version still refuses it, report it`;
  const clock = options.monotonicNow ?? (() => performance.now());
  const deadline = options.timeoutMs === undefined ? Infinity : clock() + options.timeoutMs;
  const checkTime = (): void => {
    if (clock() > deadline) {
      throw fail(`checking the ${certs.length} certificates took longer than the ${formatSeconds(options.timeoutMs as number)} limit, so pgcerts gave up (a hostile or broken file?). Use the provider's bundle (\`pgcerts show ${provider.id}\`), or raise --timeout`);
    }
  };

  const unique: X509Certificate[] = [];
  const seen = new Set<string>();
  for (const cert of certs) {
    if (seen.has(cert.fingerprint256)) continue;
    seen.add(cert.fingerprint256);
    unique.push(cert);
  }
  const duplicates = certs.length - unique.length;

  const trustPins = provider.certificates.filter((pin) => pin.trust.includes(trust.id));
  const trustPinsBySha = new Map(trustPins.map((pin) => [pin.sha256, pin]));
  // A global source (no region) holds every region's certificates.
  const applies = (pin: PinnedCertificate): boolean =>
    pin.region === undefined || options.region === undefined || pin.region === options.region;
  const pins = new Map((single ? [single] : trustPins.filter(applies)).map((pin) => [pin.sha256, pin]));
  const namesakes = indexByCommonName((single ? [...provider.certificates, single] : provider.certificates).map((pin) => ({ provider, pin })));
  const regionPinned = options.region !== undefined && trustPins.some((pin) => pin.region === options.region);

  // Issuers by subject name: an intermediate's issuer is looked up, not searched for.
  const byName = new Map<string, X509Certificate[]>();
  for (const cert of unique) {
    const list = byName.get(cert.subject) ?? [];
    list.push(cert);
    byName.set(cert.subject, list);
    if (list.length > MAX_SAME_NAME) {
      const label = `"${commonName(cert.subject.split('\n').join(', '))}"`;
      throw fail(`the set holds more than ${MAX_SAME_NAME} different certificates named ${label}, which no real bundle does (a hostile or broken file). Use the provider's bundle: \`pgcerts show ${provider.id}\` lists its sources`);
    }
  }
  // Key identifiers of the pinned certificates present: another certificate claiming one is a lookalike.
  const pinnedKeyIds = new Map<string, X509Certificate>();
  for (const cert of unique) {
    const ski = pins.has(cert.fingerprint256) ? getKeyIdentifiers(cert).subject : undefined;
    if (ski !== undefined) pinnedKeyIds.set(ski, cert);
  }

  // Unpinned intermediates that a pinned root of this source in the set signed, within the
  // trust's declared intermediate constraints: renewals, accepted before the registry pins them.
  const renewed = findRenewedIntermediates(unique, { trust, pins, byName });

  // The issuer that signed the previous certificate of each issuer name is tried first.
  const lastIssuers = new Map<string, X509Certificate>();
  const reports: CertificateReport[] = unique.map((cert) => {
    checkTime();
    // A pinned fingerprint means these are the very bytes the registry vouches for, so their
    // self-signature needs no new check; every other self-signed certificate is verified.
    const pin = pins.get(cert.fingerprint256);
    const summary = summarizeCertificate(cert, { verifySignature: pin === undefined });
    const label = describe(summary);

    const renewal = renewed.get(cert);
    // A renewal carries its predecessor's name, and perhaps its key: that is no forgery when a
    // pinned root signed it.
    const namesake = renewal ? undefined : findLookalikeIn(namesakes, summary.subject, summary.sha256);
    if (namesake) {
      throw fail(`certificate ${label} carries the name of pinned "${commonName(namesake.pin.subject)}" (SHA-256 ${namesake.pin.sha256}) but its fingerprint differs: a forgery or lookalike (its other attributes do not matter), or a rotation the registry must learn first. Nothing was written. ${update}`);
    }
    const ski = pin || renewal ? undefined : getKeyIdentifiers(cert).subject;
    const keyTwin = ski === undefined ? undefined : pinnedKeyIds.get(ski);
    if (keyTwin) {
      throw fail(`certificate ${label} carries the subject key identifier ${ski} of pinned ${describe(summarizeCertificate(keyTwin, { verifySignature: false }))} but its fingerprint differs: a forgery or lookalike. Nothing was written. ${update}`);
    }
    if (!cert.ca) {
      throw fail(`certificate ${label} is not a CA certificate (a server certificate saved as the CA?), and a CA bundle holds CA certificates only. Use the provider's CA bundle: \`pgcerts show ${provider.id}\` lists its sources`);
    }
    if (cert.subject === cert.issuer) {
      if (!summary.selfSigned) {
        throw fail(`self-signed certificate ${label} does not verify with its own key: it is forged or damaged. Download it again from the source \`pgcerts show ${provider.id}\` lists`);
      }
    } else if (!pin && !hasIssuer(cert, byName.get(cert.issuer) ?? [], lastIssuers)) {
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
    // A root's self-signature plays no part in trust (RFC 5280 6.1: the path starts at the trust
    // anchor, whose own signature no client checks), so only signatures that a chain relies on
    // are flagged.
    if (!summary.selfSigned && WEAK_SIGNATURE.test(signatureAlgorithm)) warnings.push(`weak signature algorithm: ${signatureAlgorithm}`);
    if (pin?.status === 'retired') warnings.push('the registry marks it retired: the provider no longer uses it');
    return { summary, signatureAlgorithm, pinned: pin !== undefined, status, expiresInDays, warnings, ...(renewal ? { renewedFrom: renewal } : {}) };
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
      const elsewhere = trustPinsBySha.get(report.summary.sha256);
      if (elsewhere?.region !== undefined && !regionPinned) report.warnings.push(`pinned for region ${elsewhere.region}, not for this source`);
      const refusal = keep && report.renewedFrom === undefined ? refuseUnpinned(report, options, { hasPins: trustPins.length > 0, regionPinned, elsewhere: elsewhere?.region }) : undefined;
      if (refusal) throw fail(`certificate ${label} ${refusal}`);
      if (!keep) report.warnings.push('not pinned');
      else if (report.renewedFrom !== undefined) report.warnings.unshift(describeRenewal(options, report.renewedFrom));
      else report.warnings.unshift(describeUnpinned(options, trustPins.length > 0));
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

/**
 * Whether one of `candidates` (the certificates named as `cert`'s issuer) signed it. The issuer
 * of the previous certificate with this issuer name goes first, then those whose subject key
 * identifier matches `cert`'s authority key identifier, each public key once, so the search costs
 * one signature check in a real bundle and at most {@link MAX_SAME_NAME} in a hostile one.
 */
function hasIssuer(cert: X509Certificate, candidates: X509Certificate[], lastIssuers: Map<string, X509Certificate>): boolean {
  const authority = getKeyIdentifiers(cert).authority;
  const last = lastIssuers.get(cert.issuer);
  const ranked = [
    ...(last ? [last] : []),
    ...(authority === undefined ? candidates : [
      ...candidates.filter((c) => getKeyIdentifiers(c).subject === authority),
      ...candidates.filter((c) => getKeyIdentifiers(c).subject !== authority),
    ]),
  ];
  const tried = new Set<string>();
  for (const issuer of ranked) {
    if (issuer === cert || !issuer.ca) continue;
    const key = spkiOf(issuer);
    if (tried.has(key)) continue;
    tried.add(key);
    if (verifies(cert, issuer.publicKey)) {
      lastIssuers.set(cert.issuer, issuer);
      return true;
    }
  }
  return false;
}

const spkis = new WeakMap<X509Certificate, string>();

function spkiOf(cert: X509Certificate): string {
  let spki = spkis.get(cert);
  if (spki === undefined) {
    spki = cert.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    spkis.set(cert, spki);
  }
  return spki;
}

/**
 * The unpinned intermediates of a set that the trust's declared `intermediates` constraints
 * accept, each with the pinned root that signed it: a CA, not self-signed, its subject, key type
 * and lifetime within the constraints, and its signature verifying with the key of a pinned,
 * self-signed root of this source (and region) that is in the same set. Without constraints, none.
 */
export function findRenewedIntermediates(
  certs: readonly X509Certificate[],
  context: { trust: Trust; pins: ReadonlyMap<string, PinnedCertificate>; byName: ReadonlyMap<string, X509Certificate[]> },
): Map<X509Certificate, string> {
  const found = new Map<X509Certificate, string>();
  const rules = context.trust.intermediates;
  if (!rules) return found;
  const subject = new RegExp(rules.subject);
  for (const cert of certs) {
    if (context.pins.has(cert.fingerprint256) || !cert.ca || cert.subject === cert.issuer) continue;
    const summary = summarizeCertificate(cert, { verifySignature: false });
    const lifetimeDays = (Date.parse(summary.notAfter) - Date.parse(summary.notBefore)) / DAY_MS;
    const keyType = summary.key.startsWith('RSA ') ? 'rsa' : summary.key.startsWith('EC ') ? 'ec' : '';
    if (!subject.test(summary.subject) || !(rules.keyTypes as string[]).includes(keyType) || lifetimeDays > rules.maxValidityDays) continue;
    const root = (context.byName.get(cert.issuer) ?? []).find((issuer) => {
      const pin = context.pins.get(issuer.fingerprint256);
      return pin !== undefined && issuer.subject === issuer.issuer && issuer.ca && verifies(cert, issuer.publicKey);
    });
    if (root) found.set(cert, `"${commonName(summarizeCertificate(root, { verifySignature: false }).subject)}" (SHA-256 ${root.fingerprint256})`);
  }
  return found;
}

/** The warning a new intermediate accepted under the `intermediates` constraints carries. */
function describeRenewal(options: ValidateOptions, root: string): string {
  return `unpinned: a new intermediate, signed by pinned root ${root} and within the registry's intermediate constraints for ${options.provider.id} (${options.trust.id}); probably a renewal the registry has not learned yet. Update pgcerts (${UPDATE_HOW}) for a registry that pins it`;
}

/** The warning an accepted unpinned certificate carries: it starts with `unpinned:`. */
function describeUnpinned(options: ValidateOptions, hasPins: boolean): string {
  const { provider, trust } = options;
  if (options.anyCa === true && !hasPins) {
    return `unpinned: the registry pins no CA for ${provider.id} (${trust.id}), so only you vouch for this one; compare its SHA-256 with what the provider shows you`;
  }
  return `unpinned: accepted only because it fits the registry's constraints for ${provider.id} (${trust.id}), so pgcerts cannot tell it from a forgery of the same shape; compare its SHA-256 with the provider's documentation, and update pgcerts (${UPDATE_HOW}) for a registry that pins it`;
}

/** Normalise a name as a reader compares it: NFKC, case-folded, whitespace collapsed. */
function normalizeName(name: string): string {
  return name.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

/**
 * The common names of a subject, in Node's multi-line form (`C=US\nCN=x`) or pgcerts' one-line
 * form (`C=US, CN=x`), unescaped.
 */
export function listCommonNames(subject: string): string[] {
  const attributes = subject.includes('\n') ? subject.split('\n') : splitSubject(subject);
  return attributes.filter((a) => a.startsWith('CN=')).map((a) => a.slice(3).replace(/\\(.)/g, '$1'));
}

/** Pins by the normalised common name of their subject. */
export function indexByCommonName(pins: Iterable<PinRef>): Map<string, PinRef[]> {
  const index = new Map<string, PinRef[]>();
  for (const ref of pins) {
    for (const name of listCommonNames(ref.pin.subject)) {
      const key = normalizeName(name);
      const list = index.get(key) ?? [];
      list.push(ref);
      index.set(key, list);
    }
  }
  return index;
}

const registryIndexes = new WeakMap<readonly Provider[], Map<string, PinRef[]>>();

/**
 * The pinned certificate whose common name `subject` carries while its fingerprint is not
 * `sha256`: a forgery or lookalike of a pinned CA (`L=Seattle2`, an added attribute, another
 * case). Undefined when the name is not pinned, or pinned with this very fingerprint.
 * @example findLookalikePin(registry.providers, 'C=US, CN=Amazon RDS us-east-1 Root CA RSA2048 G1, L=Seattle2', sha)
 */
export function findLookalikePin(providers: readonly Provider[], subject: string, sha256: string): PinRef | undefined {
  let index = registryIndexes.get(providers);
  if (!index) {
    index = indexByCommonName(providers.flatMap((provider) => provider.certificates.map((pin) => ({ provider, pin }))));
    registryIndexes.set(providers, index);
  }
  return findLookalikeIn(index, subject, sha256);
}

function findLookalikeIn(index: Map<string, PinRef[]>, subject: string, sha256: string): PinRef | undefined {
  for (const name of listCommonNames(subject)) {
    const refs = index.get(normalizeName(name));
    if (refs && !refs.some((ref) => ref.pin.sha256 === sha256)) return refs[0];
  }
  return undefined;
}

function formatSeconds(ms: number): string {
  return `${+(ms / 1000).toFixed(1)} s`;
}

/** Why an unpinned certificate that would be kept is refused, or undefined when it is accepted. */
function refuseUnpinned(report: CertificateReport, options: ValidateOptions, facts: { hasPins: boolean; regionPinned: boolean; elsewhere: string | undefined }): string | undefined {
  const { trust, provider } = options;
  const update = `Update pgcerts (${UPDATE_HOW}) so its registry knows the certificate`;
  if (options.strict) return `is not pinned, and strict mode accepts pinned certificates only. ${update}, or run without --strict`;
  if (facts.regionPinned) {
    const where = facts.elsewhere === undefined ? '' : ` (the registry pins it for region ${facts.elsewhere})`;
    return `is not pinned for region "${options.region}"${where}, and the registry pins that region's roots, so its bundle takes no other. ${update}; if the newest version still refuses it, report it`;
  }
  const anyCa = options.anyCa === true && !facts.hasPins;
  if (!anyCa && trust.unpinned !== 'constraints') {
    if (!facts.hasPins) {
      return `is not pinned, and the registry pins no certificate for provider "${provider.id}" (trust "${trust.id}"), so pgcerts cannot vouch for anything its source serves. Check the file against the provider's documentation yourself, then run \`pgcerts import ${provider.id} <file> --trust ${trust.id}\``;
    }
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

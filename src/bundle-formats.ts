import { createHmac, randomBytes, type X509Certificate } from 'node:crypto';
import { PgcertsError } from './errors.js';
import { parseCertificates } from './pem.js';

type Asn1 = import('node-forge').asn1.Asn1;

/** The shapes `fetch` and `sslrootcert` print a bundle in (`--format`). */
export type BundleFormat = 'path' | 'pem' | 'base64' | 'k8s-secret' | 'k8s-configmap' | 'pkcs12';

/** Every {@link BundleFormat}, in the order the help lists them. */
export const BUNDLE_FORMATS: readonly BundleFormat[] = ['path', 'pem', 'base64', 'k8s-secret', 'k8s-configmap', 'pkcs12'];

/** A password everyone knows: the JDK's own cacerts uses it. A truststore holds public certificates; its password only keys the integrity check. */
export const DEFAULT_TRUSTSTORE_PASSWORD = 'changeit';

/**
 * The format `value` names.
 * @throws PgcertsError `USAGE` naming the formats.
 */
export function getBundleFormat(value: string): BundleFormat {
  const format = BUNDLE_FORMATS.find((f) => f === value.trim().toLowerCase());
  if (!format) throw new PgcertsError('USAGE', `--format "${value}" is not a bundle format; use one of ${BUNDLE_FORMATS.join(', ')}.`);
  return format;
}

/** The PEM text with one certificate block after another, LF line ends and one final newline. */
function normalizePem(pem: string): string {
  return `${pem.replace(/\r\n?/g, '\n').replace(/\s+$/, '')}\n`;
}

/**
 * The PEM bundle base64-encoded on one line, for platforms that only take environment
 * variables; `echo "$VAR" | base64 -d` gives the PEM back.
 * @example toBase64('-----BEGIN CERTIFICATE-----\n...') // 'LS0tLS1CRUdJTi...'
 */
export function toBase64(pem: string): string {
  return Buffer.from(normalizePem(pem), 'utf8').toString('base64');
}

// Kubernetes object names are RFC 1123 DNS subdomains, namespaces RFC 1123 labels, and ConfigMap
// and Secret keys [-._a-zA-Z0-9]+ (https://kubernetes.io/docs/concepts/overview/working-with-objects/names/).
const DNS_LABEL = '[a-z0-9](?:[-a-z0-9]*[a-z0-9])?';
const SUBDOMAIN = new RegExp(`^${DNS_LABEL}(?:\\.${DNS_LABEL})*$`);
const LABEL = new RegExp(`^${DNS_LABEL}$`);
const DATA_KEY = /^[-._a-zA-Z0-9]+$/;

/** Options of the Kubernetes manifests. */
export interface ManifestOptions {
  /** metadata.name: an RFC 1123 subdomain (lower-case letters, digits, "-", ".", at most 253). */
  name: string;
  /** metadata.namespace: an RFC 1123 label (at most 63); omitted when not given. */
  namespace?: string;
  /** The data key holding the PEM (default `ca.pem`). */
  key?: string;
  /** metadata.annotations (string values). */
  annotations?: Record<string, string>;
  /** Comment lines put before the document. */
  comment?: string[];
}

/**
 * Check the names of a manifest.
 * @throws PgcertsError `USAGE` naming the bad value and the rule.
 */
export function checkManifestNames(options: ManifestOptions): void {
  const { name, namespace, key } = options;
  if (name.length > 253 || !SUBDOMAIN.test(name)) {
    throw new PgcertsError('USAGE', `--name ${JSON.stringify(name)} is not a Kubernetes object name: use at most 253 lower-case letters, digits, "-" and ".", starting and ending with a letter or digit (e.g. "pgcerts-rds").`);
  }
  if (namespace !== undefined && (namespace.length > 63 || !LABEL.test(namespace))) {
    throw new PgcertsError('USAGE', `--namespace ${JSON.stringify(namespace)} is not a Kubernetes namespace: use at most 63 lower-case letters, digits and "-", starting and ending with a letter or digit (e.g. "default").`);
  }
  if (key !== undefined && (key.length > 253 || !DATA_KEY.test(key) || key === '.' || key === '..')) {
    throw new PgcertsError('USAGE', `--key ${JSON.stringify(key)} is not a ConfigMap or Secret key: use letters, digits, "-", "_" and "." (at most 253, not "." or ".."), e.g. "ca.pem".`);
  }
}

/** A YAML double-quoted scalar: JSON's string syntax is valid YAML. */
function quote(value: string): string {
  return JSON.stringify(value);
}

function manifest(kind: 'Secret' | 'ConfigMap', options: ManifestOptions, body: string[]): string {
  checkManifestNames(options);
  const lines = (options.comment ?? []).map((line) => `# ${line.replace(/[\r\n]+/g, ' ')}`);
  lines.push('apiVersion: v1', `kind: ${kind}`, 'metadata:', `  name: ${quote(options.name)}`);
  if (options.namespace !== undefined) lines.push(`  namespace: ${quote(options.namespace)}`);
  lines.push('  labels:', '    "app.kubernetes.io/managed-by": "pgcerts"');
  const annotations = Object.entries(options.annotations ?? {});
  if (annotations.length > 0) {
    lines.push('  annotations:');
    for (const [k, v] of annotations) lines.push(`    ${quote(k)}: ${quote(v)}`);
  }
  lines.push(...body);
  return `${lines.join('\n')}\n`;
}

/**
 * A Kubernetes Secret (type Opaque) holding the PEM bundle base64-encoded under `key`
 * (`ca.pem` unless given), for `kubectl apply -f -`.
 * @throws PgcertsError `USAGE` for a name, namespace or key Kubernetes would refuse.
 */
export function toKubernetesSecret(pem: string, options: ManifestOptions): string {
  return manifest('Secret', options, ['type: Opaque', 'data:', `  ${quote(options.key ?? 'ca.pem')}: ${toBase64(pem)}`]);
}

/**
 * A Kubernetes ConfigMap holding the PEM bundle as text (a literal block) under `key`
 * (`ca.pem` unless given): mount it and point `PGSSLROOTCERT` at the file.
 * @throws PgcertsError `USAGE` for a name, namespace or key Kubernetes would refuse.
 */
export function toKubernetesConfigMap(pem: string, options: ManifestOptions): string {
  const text = normalizePem(pem).replace(/\n$/, '').split('\n').map((line) => (line === '' ? '' : `    ${line}`));
  return manifest('ConfigMap', options, ['data:', `  ${quote(options.key ?? 'ca.pem')}: |`, ...text]);
}

/** Options of {@link toPkcs12Truststore}. */
export interface Pkcs12Options {
  /** The store password, which keys the MAC (default {@link DEFAULT_TRUSTSTORE_PASSWORD}); printable ASCII, as Java requires. */
  password?: string;
  /** PBKDF iterations of the MAC key (default 10000, as the JDK writes). */
  iterations?: number;
  /** The MAC salt (default 16 random bytes). */
  salt?: Uint8Array;
}

// RFC 7292 and the JDK's PKCS12KeyStore, which lists a certificate bag as a trustedCertEntry
// only with Oracle's trusted-key-usage attribute (https://github.com/openjdk/jdk/blob/master/src/java.base/share/classes/sun/security/pkcs12/PKCS12KeyStore.java).
const OID = {
  data: '1.2.840.113549.1.7.1',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  oracleTrustedKeyUsage: '2.16.840.1.113894.746875.1.1',
  anyExtendedKeyUsage: '2.5.29.37.0',
  sha256: '2.16.840.1.101.3.4.2.1',
} as const;

/** An alias per certificate from its common name, unique in the store (keytool shows aliases in lower case). */
function aliases(certs: readonly X509Certificate[]): string[] {
  const used = new Map<string, number>();
  return certs.map((cert, i) => {
    const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? `certificate ${i + 1}`;
    const base = cn.toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^-+|-+$/g, '') || `certificate-${i + 1}`;
    const n = (used.get(base) ?? 0) + 1;
    used.set(base, n);
    return n === 1 ? base : `${base}-${n}`;
  });
}

/**
 * A PKCS#12 truststore of the bundle's certificates, one trusted certificate entry each (no
 * keys, no encryption; a SHA-256 HMAC keyed by the password guards its integrity), for
 * `-Djavax.net.ssl.trustStore` with `trustStoreType=PKCS12`. Built from each certificate's DER,
 * so EC roots go in as they are.
 * @throws PgcertsError `DECODE_FAILED` when the PEM holds no certificate, `INVALID_INPUT` for a password that is not printable ASCII.
 * @example writeFileSync('truststore.p12', await toPkcs12Truststore(pem))
 */
export async function toPkcs12Truststore(bundle: string | readonly X509Certificate[], options: Pkcs12Options = {}): Promise<Buffer> {
  const certs = typeof bundle === 'string' ? parseCertificates(bundle, { name: 'the bundle' }) : bundle;
  if (certs.length === 0) throw new PgcertsError('DECODE_FAILED', 'The bundle holds no certificate to put in a truststore.');
  const forge = (await import('node-forge')).default;
  const { asn1 } = forge;
  const U = asn1.Class.UNIVERSAL;
  const T = asn1.Type;
  const seq = (items: Asn1[]): Asn1 => asn1.create(U, T.SEQUENCE, true, items);
  const set = (items: Asn1[]): Asn1 => asn1.create(U, T.SET, true, items);
  const oid = (id: string): Asn1 => asn1.create(U, T.OID, false, asn1.oidToDer(id).getBytes());
  const octets = (bytes: string): Asn1 => asn1.create(U, T.OCTETSTRING, false, bytes);
  const explicit = (item: Asn1): Asn1 => asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [item]);
  const binary = (bytes: Uint8Array): string => Buffer.from(bytes).toString('binary');
  const der = (item: Asn1): string => asn1.toDer(item).getBytes();

  const names = aliases(certs);
  const bags = certs.map((cert, i) => seq([
    oid(OID.certBag),
    explicit(seq([oid(OID.x509Certificate), explicit(octets(binary(cert.raw)))])),
    set([
      seq([oid(OID.friendlyName), set([asn1.create(U, T.BMPSTRING, false, names[i] as string)])]),
      seq([oid(OID.oracleTrustedKeyUsage), set([oid(OID.anyExtendedKeyUsage)])]),
    ]),
  ]));
  const authSafe = der(seq([seq([oid(OID.data), explicit(octets(der(seq(bags))))])]));

  const password = options.password ?? DEFAULT_TRUSTSTORE_PASSWORD;
  // The JDK derives PKCS#12 MAC keys from ASCII passwords only (keytool: "Password is not ASCII").
  if (!/^[\x20-\x7e]+$/.test(password)) {
    throw new PgcertsError('INVALID_INPUT', 'The truststore password must be printable ASCII (Java cannot open a PKCS#12 store with any other password), and not empty; choose another password.');
  }
  const iterations = options.iterations ?? 10_000;
  const salt = binary(options.salt ?? randomBytes(16));
  // RFC 7292 appendix B: the MAC key, ID 3, from the password as a BMPString.
  const macKey = forge.pkcs12.generateKey(password, forge.util.createBuffer(salt), 3, iterations, 32, forge.md.sha256.create());
  const mac = createHmac('sha256', Buffer.from(macKey.getBytes(), 'binary')).update(Buffer.from(authSafe, 'binary')).digest();
  const pfx = seq([
    asn1.create(U, T.INTEGER, false, asn1.integerToDer(3).getBytes()),
    seq([oid(OID.data), explicit(octets(authSafe))]),
    seq([
      seq([seq([oid(OID.sha256), asn1.create(U, T.NULL, false, '')]), octets(binary(mac))]),
      octets(salt),
      asn1.create(U, T.INTEGER, false, asn1.integerToDer(iterations).getBytes()),
    ]),
  ]);
  return Buffer.from(der(pfx), 'binary');
}

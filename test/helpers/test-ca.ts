// Test certificate authorities and server certificates, made with node-forge (RSA keys come from
// node:crypto, which is much faster than forge's pure-JS key generation).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface TestCertificate {
  /** PEM of the certificate. */
  pem: string;
  /** PEM (PKCS#8) of its private key. */
  keyPem: string;
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
}

export interface CertificateOptions {
  commonName: string;
  /** Extra subject attributes, e.g. `{ O: 'Amazon Web Services, Inc.', C: 'US' }`. */
  subject?: Record<string, string>;
  notBefore?: Date;
  notAfter?: Date;
  /** RSA modulus length; 2048 unless given. */
  keyBits?: number;
  /** SHA-256 unless given ('sha1' makes a weak certificate). */
  digest?: 'sha256' | 'sha1' | 'sha384';
  /** For CAs: basicConstraints pathLenConstraint. */
  pathLen?: number;
}

const DAY_MS = 86_400_000;
const keyCache = new Map<number, forge.pki.rsa.PrivateKey[]>();

function newKey(bits: number): forge.pki.rsa.PrivateKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  return forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()) as forge.pki.rsa.PrivateKey;
}

/** A fresh RSA key (several per size are kept and reused round-robin to keep tests fast). */
function getKey(bits: number): forge.pki.rsa.PrivateKey {
  const pool = keyCache.get(bits) ?? [];
  keyCache.set(bits, pool);
  if (pool.length < 4) {
    const key = newKey(bits);
    pool.push(key);
    return key;
  }
  const key = pool.shift() as forge.pki.rsa.PrivateKey;
  pool.push(key);
  return key;
}

function subjectAttributes(options: CertificateOptions): forge.pki.CertificateField[] {
  const attrs: forge.pki.CertificateField[] = Object.entries(options.subject ?? {}).map(([shortName, value]) => ({ shortName, value }));
  attrs.push({ shortName: 'CN', value: options.commonName });
  return attrs;
}

function build(
  options: CertificateOptions,
  issuer: TestCertificate | undefined,
  extensions: object[],
): TestCertificate {
  const key = getKey(options.keyBits ?? 2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
  cert.validity.notBefore = options.notBefore ?? new Date(Date.now() - DAY_MS);
  cert.validity.notAfter = options.notAfter ?? new Date(Date.now() + 365 * DAY_MS);
  cert.setSubject(subjectAttributes(options));
  cert.setIssuer(issuer ? issuer.cert.subject.attributes : subjectAttributes(options));
  cert.setExtensions(extensions);
  const digest = options.digest ?? 'sha256';
  cert.sign(issuer ? issuer.key : key, forge.md[digest].create());
  return {
    pem: forge.pki.certificateToPem(cert),
    keyPem: forge.pki.privateKeyInfoToPem(forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(key))),
    cert,
    key,
  };
}

/** A self-signed CA certificate (also how to forge a root that carries a real CA's name). */
export function createCa(options: CertificateOptions): TestCertificate {
  return build(options, undefined, [
    { name: 'basicConstraints', cA: true, critical: true, ...(options.pathLen === undefined ? {} : { pathLenConstraint: options.pathLen }) },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
}

/** An intermediate CA signed by `issuer`. */
export function createIntermediate(issuer: TestCertificate, options: CertificateOptions): TestCertificate {
  return build(options, issuer, [
    { name: 'basicConstraints', cA: true, critical: true, ...(options.pathLen === undefined ? {} : { pathLenConstraint: options.pathLen }) },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ]);
}

/** A TLS server certificate signed by `issuer`, valid for the given DNS names and IP addresses. */
export function createServerCertificate(
  issuer: TestCertificate,
  options: CertificateOptions & { dnsNames?: string[]; ipAddresses?: string[]; extKeyUsage?: { serverAuth?: boolean; clientAuth?: boolean } },
): TestCertificate {
  const altNames = [
    ...(options.dnsNames ?? [options.commonName]).map((value) => ({ type: 2, value })),
    ...(options.ipAddresses ?? []).map((ip) => ({ type: 7, ip })),
  ];
  return build(options, issuer, [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', ...(options.extKeyUsage ?? { serverAuth: true }) },
    { name: 'subjectAltName', altNames },
  ]);
}

/** Days from now as a Date (negative for the past). */
export function daysFromNow(days: number): Date {
  return new Date(Date.now() + days * DAY_MS);
}

/** A self-signed TLS server certificate (not a CA) for the given DNS names and IP addresses. */
export function createSelfSignedServerCertificate(
  options: CertificateOptions & { dnsNames?: string[]; ipAddresses?: string[] },
): TestCertificate {
  const altNames = [
    ...(options.dnsNames ?? [options.commonName]).map((value) => ({ type: 2, value })),
    ...(options.ipAddresses ?? []).map((ip) => ({ type: 7, ip })),
  ];
  return build(options, undefined, [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
  ]);
}

/**
 * A self-signed CA whose subject has exactly these attributes in this order, e.g. a copy of a
 * real root's name (`[['C', 'US'], ['O', 'Amazon Web Services, Inc.'], ...]`).
 */
export function createCaWithSubject(attributes: Array<[shortName: string, value: string]>, options: Partial<CertificateOptions> = {}): TestCertificate {
  const ca = createCa({ ...options, commonName: 'placeholder' });
  const fields = attributes.map(([shortName, value]) => ({ shortName, value }));
  ca.cert.setSubject(fields);
  ca.cert.setIssuer(fields);
  ca.cert.sign(ca.key, forge.md[options.digest ?? 'sha256'].create());
  return { ...ca, pem: forge.pki.certificateToPem(ca.cert) };
}

import type { X509Certificate } from 'node:crypto';
import { PgcertsError } from './errors.js';

/** The facts pgcerts records about a certificate (the registry's pin fields and more). */
export interface CertificateSummary {
  /** Upper-case colon-separated SHA-256 of the DER, as Node's `fingerprint256`. */
  sha256: string;
  /** One line: Node's subject lines joined by ', '. */
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  /** `RSA 2048`, `EC P-384`, ... */
  key: string;
  ca: boolean;
  /** Subject equals issuer and the certificate's signature verifies with its own key. */
  selfSigned: boolean;
}

const CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

/** Describe a public key as `RSA 2048` or `EC P-384`. */
export function describeKey(cert: X509Certificate): string {
  // The usual keys are read from the DER: making a KeyObject to ask its details costs a probe of
  // a fleet a noticeable part of its CPU. Anything else goes through node:crypto.
  const fast = describeKeyDer(cert.raw);
  if (fast !== undefined) return fast;
  const key = cert.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') return `RSA ${details.modulusLength}`;
  if (key.asymmetricKeyType === 'ec') return `EC ${CURVES[details.namedCurve ?? ''] ?? details.namedCurve}`;
  return String(key.asymmetricKeyType).toUpperCase();
}

/** Whether the certificate names itself as issuer and its signature verifies with its own key. */
export function isSelfSigned(cert: X509Certificate): boolean {
  return cert.subject === cert.issuer && cert.verify(cert.publicKey);
}

/**
 * Summarise a parsed certificate. `selfSigned` checks the signature with the certificate's own
 * key, unless `verifySignature: false`, when it only says whether subject and issuer agree.
 */
export function summarizeCertificate(cert: X509Certificate, options: { verifySignature?: boolean } = {}): CertificateSummary {
  // A bundle of 100 roots is summarised by the validator, the report and the cache metadata, so
  // each certificate is worked out once; the self-signature check (a public-key operation) only
  // when asked for.
  let base = summaries.get(cert);
  if (!base) {
    base = Object.freeze(computeSummary(cert));
    summaries.set(cert, base);
  }
  if (options.verifySignature === false) return { ...base, selfSigned: cert.subject === cert.issuer };
  let verified = selfSignatures.get(cert);
  if (verified === undefined) {
    verified = isSelfSigned(cert);
    selfSignatures.set(cert, verified);
  }
  return { ...base, selfSigned: verified };
}

const summaries = new WeakMap<X509Certificate, Omit<CertificateSummary, 'selfSigned'>>();
const selfSignatures = new WeakMap<X509Certificate, boolean>();

function computeSummary(cert: X509Certificate): Omit<CertificateSummary, 'selfSigned'> {
  return {
    sha256: cert.fingerprint256,
    subject: cert.subject.split('\n').join(', '),
    issuer: cert.issuer.split('\n').join(', '),
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
    key: describeKey(cert),
    ca: cert.ca,
  };
}


// Names as OpenSSL prints them (`openssl x509 -text`).
const SIGNATURE_ALGORITHMS: Record<string, string> = {
  '1.2.840.113549.1.1.2': 'md2WithRSAEncryption',
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'rsassaPss',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.2.840.113549.1.1.14': 'sha224WithRSAEncryption',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.2.840.10045.4.3.1': 'ecdsa-with-SHA224',
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
  '1.2.840.10040.4.3': 'dsa-with-SHA1',
  '2.16.840.1.101.3.4.3.2': 'dsa-with-SHA256',
  '1.3.101.112': 'ED25519',
  '1.3.101.113': 'ED448',
};

/**
 * The algorithm the issuer signed the certificate with, as OpenSSL names it
 * (`sha256WithRSAEncryption`, `ecdsa-with-SHA384`, `sha1WithRSAEncryption`, ...), or the dotted
 * OID when the name is unknown.
 * @throws {PgcertsError} `DECODE_FAILED` when the DER is not a certificate.
 */
export function getSignatureAlgorithm(cert: X509Certificate): string {
  const oid = readSignatureAlgorithmOid(cert.raw);
  if (oid === undefined) {
    throw new PgcertsError('DECODE_FAILED', `The certificate "${cert.fingerprint256}" has no readable signature algorithm. Report it as a pgcerts bug with the certificate attached.`);
  }
  return SIGNATURE_ALGORITHMS[oid] ?? oid;
}

/** A certificate's key identifiers (upper-case colon-separated hex), when its extensions carry them. */
export interface KeyIdentifiers {
  /** Subject Key Identifier (2.5.29.14): names the certificate's own key. */
  subject: string | undefined;
  /** The keyIdentifier of the Authority Key Identifier (2.5.29.35): names the issuer's key. */
  authority: string | undefined;
}

const keyIdentifiers = new WeakMap<X509Certificate, KeyIdentifiers>();

/**
 * The subject and authority key identifiers of a certificate, read from its DER (node:crypto
 * does not expose them). Malformed or missing extensions give `undefined`, never an error: the
 * identifiers only narrow the search for an issuer and name lookalikes, they prove nothing.
 */
export function getKeyIdentifiers(cert: X509Certificate): KeyIdentifiers {
  let ids = keyIdentifiers.get(cert);
  if (!ids) {
    ids = Object.freeze(readKeyIdentifiers(cert.raw));
    keyIdentifiers.set(cert, ids);
  }
  return ids;
}

const SKI_OID = Buffer.from([0x55, 0x1d, 0x0e]);
const AKI_OID = Buffer.from([0x55, 0x1d, 0x23]);

function hex(der: Buffer, start: number, end: number): string | undefined {
  if (end <= start) return undefined;
  return der.subarray(start, end).toString('hex').toUpperCase().replace(/(..)(?!$)/g, '$1:');
}

/**
 * The subject and authority key identifiers of a DER certificate, as {@link getKeyIdentifiers}
 * reads them, for certificates not parsed into an `X509Certificate`.
 * TBSCertificate ::= SEQUENCE { [0] version, serial, signature, issuer, validity, subject,
 * subjectPublicKeyInfo, [1] issuerUID, [2] subjectUID, [3] EXPLICIT Extensions }, where
 * Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }.
 */
export function readKeyIdentifiers(der: Buffer): KeyIdentifiers {
  const ids: KeyIdentifiers = { subject: undefined, authority: undefined };
  const certificate = readElement(der, 0);
  if (certificate?.tag !== 0x30) return ids;
  const tbs = readElement(der, certificate.start);
  if (tbs?.tag !== 0x30) return ids;
  let extensions: { start: number; end: number } | undefined;
  for (let offset = tbs.start; offset < tbs.end;) {
    const element = readElement(der, offset);
    if (!element || element.end > tbs.end) return ids;
    if (element.tag === 0xa3) extensions = readElement(der, element.start);
    offset = element.end;
  }
  if (!extensions) return ids;
  for (let offset = extensions.start; offset < extensions.end;) {
    const extension = readElement(der, offset);
    if (extension?.tag !== 0x30 || extension.end > extensions.end) return ids;
    offset = extension.end;
    const oid = readElement(der, extension.start);
    if (oid?.tag !== 0x06) continue;
    let value = readElement(der, oid.end);
    if (value?.tag === 0x01) value = readElement(der, value.end);
    if (value?.tag !== 0x04 || value.end > extension.end) continue;
    const name = der.subarray(oid.start, oid.end);
    const inner = readElement(der, value.start);
    if (!inner || inner.end > value.end) continue;
    if (name.equals(SKI_OID) && inner.tag === 0x04) ids.subject = hex(der, inner.start, inner.end);
    if (name.equals(AKI_OID) && inner.tag === 0x30) {
      // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING OPTIONAL, ... }
      const first = readElement(der, inner.start);
      if (first?.tag === 0x80 && first.end <= inner.end) ids.authority = hex(der, first.start, first.end);
    }
  }
  return ids;
}

const RSA_ENCRYPTION = Buffer.from('2a864886f70d010101', 'hex');
const EC_PUBLIC_KEY = Buffer.from('2a8648ce3d0201', 'hex');
const NAMED_CURVES: ReadonlyArray<[Buffer, string]> = [
  [Buffer.from('2a8648ce3d030107', 'hex'), 'P-256'],
  [Buffer.from('2b81040022', 'hex'), 'P-384'],
  [Buffer.from('2b81040023', 'hex'), 'P-521'],
];

/**
 * `RSA <bits>` for an rsaEncryption key, `EC P-256|P-384|P-521` for a named-curve EC key, read
 * from the subjectPublicKeyInfo of a DER certificate; `undefined` for anything else or anything
 * malformed (the caller asks node:crypto then). The test suite compares it with node:crypto's
 * answer for every root of Node's store.
 */
export function describeKeyDer(der: Buffer): string | undefined {
  const certificate = readElement(der, 0);
  if (certificate?.tag !== 0x30) return undefined;
  const tbs = readElement(der, certificate.start);
  if (tbs?.tag !== 0x30) return undefined;
  let offset = tbs.start;
  let element = readElement(der, offset);
  if (element?.tag === 0xa0) {
    offset = element.end;
    element = readElement(der, offset);
  }
  // serial, signature, issuer, validity, subject, then subjectPublicKeyInfo.
  for (let i = 0; i < 5; i++) {
    if (!element || element.end > tbs.end) return undefined;
    offset = element.end;
    element = readElement(der, offset);
  }
  if (element?.tag !== 0x30 || element.end > tbs.end) return undefined;
  const algorithm = readElement(der, element.start);
  if (algorithm?.tag !== 0x30) return undefined;
  const oid = readElement(der, algorithm.start);
  if (oid?.tag !== 0x06 || oid.end > algorithm.end) return undefined;
  const id = der.subarray(oid.start, oid.end);
  const key = readElement(der, algorithm.end);
  if (key?.tag !== 0x03 || key.end > element.end || der[key.start] !== 0) return undefined;
  if (id.equals(EC_PUBLIC_KEY)) {
    const curve = readElement(der, oid.end);
    if (curve?.tag !== 0x06 || curve.end > algorithm.end) return undefined;
    const name = NAMED_CURVES.find(([bytes]) => bytes.equals(der.subarray(curve.start, curve.end)))?.[1];
    return name === undefined ? undefined : `EC ${name}`;
  }
  if (!id.equals(RSA_ENCRYPTION)) return undefined;
  // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
  const rsa = readElement(der, key.start + 1);
  if (rsa?.tag !== 0x30 || rsa.end > key.end) return undefined;
  const modulus = readElement(der, rsa.start);
  if (modulus?.tag !== 0x02 || modulus.end > rsa.end) return undefined;
  let first = modulus.start;
  while (first < modulus.end && der[first] === 0) first++;
  if (first === modulus.end) return undefined;
  const top = der[first] as number;
  return `RSA ${(modulus.end - first - 1) * 8 + (32 - Math.clz32(top))}`;
}

/**
 * The DER encoding (tag and length included) of a DER certificate's issuer and subject names,
 * for looking issuers up by the exact bytes OpenSSL compares first; `undefined` when malformed.
 * Read directly, so that a store of 145 roots is indexed without parsing each one.
 */
export function readNamesDer(der: Buffer): { issuer: Buffer; subject: Buffer } | undefined {
  const certificate = readElement(der, 0);
  if (certificate?.tag !== 0x30) return undefined;
  const tbs = readElement(der, certificate.start);
  if (tbs?.tag !== 0x30) return undefined;
  let offset = tbs.start;
  const next = (): { tag: number; from: number; end: number } | undefined => {
    const element = readElement(der, offset);
    if (!element || element.end > tbs.end) return undefined;
    const from = offset;
    offset = element.end;
    return { tag: element.tag, from, end: element.end };
  };
  let first = next();
  if (first?.tag === 0xa0) first = next();
  const signature = next();
  const issuer = next();
  const validity = next();
  const subject = next();
  if (first?.tag !== 0x02 || signature?.tag !== 0x30 || issuer?.tag !== 0x30 || validity?.tag !== 0x30 || subject?.tag !== 0x30) return undefined;
  return { issuer: der.subarray(issuer.from, issuer.end), subject: der.subarray(subject.from, subject.end) };
}

/** Tag, content start and content end of the DER element at `offset`, or undefined if malformed. */
function readElement(der: Buffer, offset: number): { tag: number; start: number; end: number } | undefined {
  if (offset + 2 > der.length) return undefined;
  const tag = der[offset] as number;
  let length = der[offset + 1] as number;
  let start = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    // DER uses the shortest form; lengths of a certificate never need more than 4 bytes.
    if (bytes === 0 || bytes > 4 || start + bytes > der.length) return undefined;
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + (der[start + i] as number);
    start += bytes;
  }
  const end = start + length;
  return end <= der.length ? { tag, start, end } : undefined;
}

/**
 * The signature algorithm OID of a DER certificate: Certificate ::= SEQUENCE { tbsCertificate,
 * signatureAlgorithm AlgorithmIdentifier ::= SEQUENCE { algorithm OBJECT IDENTIFIER, ... }, ... }.
 * Read directly: a full ASN.1 parse (node-forge) costs far more for a bundle of 100 roots.
 */
function readSignatureAlgorithmOid(der: Buffer): string | undefined {
  const certificate = readElement(der, 0);
  if (certificate?.tag !== 0x30) return undefined;
  const tbs = readElement(der, certificate.start);
  if (tbs?.tag !== 0x30) return undefined;
  const algorithm = readElement(der, tbs.end);
  if (algorithm?.tag !== 0x30) return undefined;
  const oid = readElement(der, algorithm.start);
  if (oid?.tag !== 0x06 || oid.end > algorithm.end || oid.end === oid.start) return undefined;
  const first = der[oid.start] as number;
  const arcs = [Math.min(2, Math.floor(first / 40)), first - 40 * Math.min(2, Math.floor(first / 40))];
  let value = 0;
  for (let i = oid.start + 1; i < oid.end; i++) {
    const byte = der[i] as number;
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(value);
      value = 0;
    }
  }
  return arcs.join('.');
}

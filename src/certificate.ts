import type { X509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';
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

/** Summarise a parsed certificate. */
export function summarizeCertificate(cert: X509Certificate): CertificateSummary {
  return {
    sha256: cert.fingerprint256,
    subject: cert.subject.split('\n').join(', '),
    issuer: cert.issuer.split('\n').join(', '),
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
    key: describeKey(cert),
    ca: cert.ca,
    selfSigned: isSelfSigned(cert),
  };
}

const require = createRequire(import.meta.url);

// Names as OpenSSL prints them (`openssl x509 -text`); node-forge's own table lacks ECDSA and EdDSA.
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
 * OID when the name is unknown. Loads node-forge on first use.
 * @throws {PgcertsError} `DECODE_FAILED` when the DER is not a certificate.
 */
export function getSignatureAlgorithm(cert: X509Certificate): string {
  const forge = require('node-forge') as typeof import('node-forge');
  const { asn1 } = forge;
  let oid: string | undefined;
  try {
    // @types/node-forge omits the options object; decodeBitStrings: false leaves the signature alone.
    const fromDer = asn1.fromDer as unknown as (bytes: string, options: object) => import('node-forge').asn1.Asn1;
    const root = fromDer(cert.raw.toString('binary'), { strict: true, parseAllBytes: true, decodeBitStrings: false });
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm AlgorithmIdentifier, signatureValue }
    const algorithm = Array.isArray(root.value) ? root.value[1] : undefined;
    const oidNode = algorithm && Array.isArray(algorithm.value) ? algorithm.value[0] : undefined;
    if (oidNode?.type === asn1.Type.OID && typeof oidNode.value === 'string') oid = asn1.derToOid(oidNode.value);
  } catch {
    oid = undefined;
  }
  if (oid === undefined) {
    throw new PgcertsError('DECODE_FAILED', `The certificate "${cert.fingerprint256}" has no readable signature algorithm. Report it as a pgcerts bug with the certificate attached.`);
  }
  return SIGNATURE_ALGORITHMS[oid] ?? oid;
}

import { X509Certificate } from 'node:crypto';

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

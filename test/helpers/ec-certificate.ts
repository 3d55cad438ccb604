// EC certificates for tests. node-forge builds and signs RSA certificates only, so forge lays out
// the TBSCertificate (names, validity, extensions) around a placeholder RSA key, the EC public key
// and the signature algorithm are swapped in, and node:crypto signs it (ECDSA or RSA).
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import type { TestCertificate } from './test-ca.js';

const { asn1 } = forge;
const DAY_MS = 86_400_000;
const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const ECDSA_WITH_SHA384 = '1.2.840.10045.4.3.3';
const SHA256_WITH_RSA = '1.2.840.113549.1.1.11';
let placeholder: forge.pki.rsa.PublicKey | undefined;

export interface EcCertificate {
  pem: string;
  /** PKCS#8 PEM of the EC private key. */
  keyPem: string;
  key: KeyObject;
  subject: forge.pki.CertificateField[];
}

export interface EcCertificateOptions {
  commonName: string;
  /** Signs the certificate; self-signed when absent. An RSA TestCertificate works too. */
  issuer?: EcCertificate | TestCertificate;
  ca: boolean;
  curve?: 'P-256' | 'P-384';
  /** Server certificates: DNS names (default the common name) and IP addresses. */
  dnsNames?: string[];
  ipAddresses?: string[];
  notBefore?: Date;
  notAfter?: Date;
}

function algorithm(oid: string, nullParams: boolean): forge.asn1.Asn1 {
  const parts = [asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(oid).getBytes())];
  if (nullParams) parts.push(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, ''));
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, parts);
}

/** An EC certificate (a CA or a server certificate) signed by `issuer` or by itself. */
export function createEcCertificate(options: EcCertificateOptions): EcCertificate {
  const curve = options.curve === 'P-384' ? 'secp384r1' : 'prime256v1';
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
  placeholder ??= forge.pki.setRsaPublicKey(new forge.jsbn.BigInteger('c5', 16), new forge.jsbn.BigInteger('3', 10));
  const subject: forge.pki.CertificateField[] = [{ shortName: 'CN', value: options.commonName }];
  const issuer = options.issuer;
  const issuerSubject = issuer === undefined ? subject : 'cert' in issuer ? issuer.cert.subject.attributes : issuer.subject;
  const issuerKey = issuer === undefined ? privateKey : 'cert' in issuer ? createPrivateKey(issuer.keyPem) : issuer.key;

  const cert = forge.pki.createCertificate();
  cert.publicKey = placeholder;
  cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
  cert.validity.notBefore = options.notBefore ?? new Date(Date.now() - DAY_MS);
  cert.validity.notAfter = options.notAfter ?? new Date(Date.now() + 365 * DAY_MS);
  cert.setSubject(subject);
  cert.setIssuer(issuerSubject);
  cert.setExtensions(options.ca
    ? [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }]
    : [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [
        ...(options.dnsNames ?? [options.commonName]).map((value) => ({ type: 2, value })),
        ...(options.ipAddresses ?? []).map((ip) => ({ type: 7, ip })),
      ] },
    ]);

  const rsaIssuer = issuerKey.asymmetricKeyType === 'rsa';
  const digest = issuerKey.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'sha384' : 'sha256';
  const signatureAlgorithm = rsaIssuer ? algorithm(SHA256_WITH_RSA, true) : algorithm(digest === 'sha384' ? ECDSA_WITH_SHA384 : ECDSA_WITH_SHA256, false);
  // getTBSCertificate needs some algorithm to lay out; the real one replaces it below.
  (cert.siginfo as { algorithmOid?: string }).algorithmOid = SHA256_WITH_RSA;
  // Exported by node-forge, missing from @types/node-forge.
  const tbs = (forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate(cert);
  const fields = tbs.value as forge.asn1.Asn1[];
  // TBSCertificate: [0] version, serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, [3] extensions.
  fields[2] = signatureAlgorithm;
  fields[6] = asn1.fromDer(publicKey.export({ type: 'spki', format: 'der' }).toString('binary'));
  const tbsDer = Buffer.from(asn1.toDer(tbs).getBytes(), 'binary');
  const signature = sign(rsaIssuer ? 'sha256' : digest, tbsDer, issuerKey);
  const certificate = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    tbs,
    rsaIssuer ? algorithm(SHA256_WITH_RSA, true) : algorithm(digest === 'sha384' ? ECDSA_WITH_SHA384 : ECDSA_WITH_SHA256, false),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, `\0${signature.toString('binary')}`),
  ]);
  const der = Buffer.from(asn1.toDer(certificate).getBytes(), 'binary');
  const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)?.join('\n')}\n-----END CERTIFICATE-----\n`;
  return { pem, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), key: privateKey, subject };
}

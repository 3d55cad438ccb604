import { X509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';
import { PgcertsError } from './errors.js';

/** The encodings a certificate source may use. */
export type CertificateFormat = 'pem' | 'der' | 'pkcs7';

export interface ParseCertificatesOptions {
  /** The format the source declares; only a hint, the content decides. */
  format?: CertificateFormat;
  /** The file name or URL, used in error messages. */
  name?: string;
}

const require = createRequire(import.meta.url);

const CERTIFICATE_LABELS = new Set(['CERTIFICATE', 'X509 CERTIFICATE', 'X.509 CERTIFICATE']);
const PKCS7_LABELS = new Set(['PKCS7', 'PKCS #7 SIGNED DATA', 'CMS']);
const SIGNED_DATA_OID = '1.2.840.113549.1.7.2';
// Any armour that announces a private key: PKCS#8, ENCRYPTED, RSA/EC/DSA, OPENSSH, PGP ... BLOCK.
const PRIVATE_KEY = /BEGIN [A-Z0-9 ]*PRIVATE KEY/i;
// RFC 7468 armour: exactly five dashes on each side of a label.
const ARMOUR = /-----(BEGIN|END) ([A-Z0-9 #.]+)-----/g;
const DAMAGED_ARMOUR = /-{2,}\s*(?:BEGIN|END)\b|\b(?:BEGIN|END) [A-Z0-9 ]+-{2,}/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const CONTROL = /[\x00-\x08\x0e-\x1a\x1c-\x1f]/;

/**
 * Read every certificate in a PEM bundle, a DER certificate or a PKCS#7 (`.p7b`) bundle, PEM or
 * DER, in file order. The content decides the format: a declared `format` is only a hint, since
 * a `.pem` URL may serve PKCS#7.
 *
 * PEM is read leniently where that is safe: CRLF, a byte-order mark, blank lines, indented lines,
 * text between blocks and a missing final newline are fine. Anything that is not a certificate is
 * refused as a whole: private keys, CRLs, public keys, OpenSSL `TRUSTED CERTIFICATE` blocks
 * (their trust settings would be lost), HTML, JSON, damaged or truncated blocks. Error messages
 * never quote the content, only positions, counts and block labels.
 *
 * @example parseCertificates(readFileSync('global-bundle.pem'), { name: 'global-bundle.pem' })
 * @throws {PgcertsError} `DECODE_FAILED` with the reason.
 */
export function parseCertificates(body: Uint8Array | string, options: ParseCertificatesOptions = {}): X509Certificate[] {
  const what = options.name === undefined ? 'The certificate file' : `"${options.name}"`;
  const fail = (reason: string, next = 'Check that it is the provider\'s CA certificate file and download it again.'): PgcertsError =>
    new PgcertsError('DECODE_FAILED', `${what} ${reason}. ${next}`);
  const bytes = typeof body === 'string' ? undefined : body;
  const text = typeof body === 'string' ? body.replace(/^\uFEFF/, '') : decodeText(body);

  const key = PRIVATE_KEY.exec(text);
  if (key) {
    throw fail(`contains a private key (line ${lineOf(text, key.index)}), which never belongs in a CA bundle; pgcerts refused the whole file`,
      'Keep that file secret and use a file that holds only the CA certificates.');
  }
  if (text.trim() === '') throw fail('is empty');
  if (bytes && isDer(bytes)) return parseDer(bytes, fail);

  const start = text.trimStart();
  if (/^<(?:!doctype\s+html|html|head|body)\b/i.test(start) || (start.startsWith('<') && /<html\b/i.test(text))) {
    throw fail('is an HTML page, not a certificate (an error, login or redirect page served in its place)',
      'Open the URL in a browser, or run `pgcerts show <provider>` for the current source.');
  }
  if (start.startsWith('<')) throw fail('is XML or other markup, not a certificate (an error page from a storage service?)');
  if (start.startsWith('{') || start.startsWith('[')) {
    throw fail('is JSON, not a certificate', 'If it is an API response, save the PEM text it carries to a file and use that.');
  }
  if (CONTROL.test(text)) throw fail('is binary data that is neither a DER certificate nor a DER PKCS#7 bundle');
  return parsePem(text, fail);
}

/**
 * Write certificates as canonical PEM: `CERTIFICATE` blocks in the given order, 64-character
 * base64 lines, LF line ends and a final newline.
 */
export function toPem(certs: readonly X509Certificate[]): string {
  return certs.map((cert) => {
    const lines = cert.raw.toString('base64').match(/.{1,64}/g) ?? [];
    return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
  }).join('');
}

type Fail = (reason: string, next?: string) => PgcertsError;

function decodeText(bytes: Uint8Array): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes.subarray(2));
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes.subarray(2));
  // TextDecoder drops a UTF-8 byte-order mark itself.
  return new TextDecoder('utf-8').decode(bytes);
}

function lineOf(text: string, index: number): number {
  return lineCounter(text)(index);
}

/**
 * Line numbers of increasing offsets in one pass: each call counts only the newlines since the
 * previous one, so numbering every block of a 4000-block bundle stays linear. An offset before
 * the previous one starts the count again.
 */
function lineCounter(text: string): (index: number) => number {
  let line = 1;
  let at = 0;
  return (index) => {
    if (index < at) {
      line = 1;
      at = 0;
    }
    for (let i = text.indexOf('\n', at); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) line++;
    at = index;
    return line;
  };
}

interface Tlv {
  tag: number;
  /** Offset of the content; `end` is undefined for BER indefinite length. */
  content: number;
  end: number | undefined;
}

/** Read one tag-length header (single-byte tags only, which is all X.509 and PKCS#7 use at the top). */
function readTlv(bytes: Uint8Array, offset: number): Tlv | undefined {
  const tag = bytes[offset];
  const first = bytes[offset + 1];
  if (tag === undefined || first === undefined || (tag & 0x1f) === 0x1f) return undefined;
  if (first < 0x80) return { tag, content: offset + 2, end: offset + 2 + first };
  if (first === 0x80) return { tag, content: offset + 2, end: undefined };
  const count = first & 0x7f;
  if (count > 4 || offset + 2 + count > bytes.length) return undefined;
  let length = 0;
  for (let i = 0; i < count; i++) length = length * 256 + (bytes[offset + 2 + i] as number);
  return { tag, content: offset + 2 + count, end: offset + 2 + count + length };
}

/** Split a body into top-level DER SEQUENCEs, or undefined when it is not exactly that. */
function splitDer(bytes: Uint8Array): Uint8Array[] | undefined {
  const parts: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length;) {
    const tlv = readTlv(bytes, offset);
    if (!tlv || tlv.tag !== 0x30) return undefined;
    // Indefinite length (BER, used by some PKCS#7 writers): only as the whole body.
    const end = tlv.end ?? (offset === 0 ? bytes.length : undefined);
    if (end === undefined || end > bytes.length) return undefined;
    parts.push(bytes.subarray(offset, end));
    offset = end;
  }
  return parts.length > 0 ? parts : undefined;
}

function isDer(bytes: Uint8Array): boolean {
  return bytes[0] === 0x30 && splitDer(bytes) !== undefined;
}

function parseDer(bytes: Uint8Array, fail: Fail): X509Certificate[] {
  const parts = splitDer(bytes) as Uint8Array[];
  return parts.flatMap((part, index) => {
    const where = parts.length > 1 ? `DER structure ${index + 1} of ${parts.length}` : 'DER data';
    const inner = readTlv(part, (readTlv(part, 0) as Tlv).content);
    // ContentInfo starts with its content-type OID; PKCS#1/PKCS#8 keys and PKCS#12 with a version INTEGER.
    if (inner?.tag === 0x06) return parsePkcs7(part, where, fail);
    if (inner?.tag === 0x02) {
      throw fail(`is binary data shaped like a private key or a PKCS#12 archive (${where}), not a certificate; pgcerts refused the whole file`,
        'Keep that file secret and use a file that holds only the CA certificates.');
    }
    return [parseCertificateDer(part, `${where} is not a certificate (a CRL, a key or damaged data?)`, fail)];
  });
}

function parseCertificateDer(der: Uint8Array, reason: string, fail: Fail): X509Certificate {
  const tlv = readTlv(der, 0);
  if (!tlv || tlv.tag !== 0x30 || tlv.end !== der.length) throw fail(reason);
  try {
    return new X509Certificate(der);
  } catch {
    throw fail(reason);
  }
}

/** The certificates of a PKCS#7 SignedData, read with forge.asn1 (forge.pkcs7 cannot read EC keys). */
function parsePkcs7(der: Uint8Array, where: string, fail: Fail): X509Certificate[] {
  const { asn1 } = require('node-forge') as typeof import('node-forge');
  type Asn1 = import('node-forge').asn1.Asn1;
  const children = (node: Asn1 | undefined): Asn1[] => (node && Array.isArray(node.value) ? node.value : []);
  let root: Asn1;
  try {
    // @types/node-forge omits the options object; decodeBitStrings: false keeps BIT STRINGs byte for byte.
    const fromDer = asn1.fromDer as unknown as (bytes: string, options: object) => Asn1;
    root = fromDer(Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('binary'),
      { strict: true, parseAllBytes: true, decodeBitStrings: false });
  } catch {
    throw fail(`holds damaged PKCS#7 data (${where})`);
  }
  // ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT SignedData }
  const [type, content] = children(root);
  const oid = type?.type === asn1.Type.OID && typeof type.value === 'string' ? asn1.derToOid(type.value) : undefined;
  if (oid !== SIGNED_DATA_OID) throw fail(`holds PKCS#7 data that is not SignedData (${where}), so it carries no certificates`);
  // SignedData ::= SEQUENCE { version, digestAlgorithms, contentInfo, certificates [0] IMPLICIT OPTIONAL, crls [1] OPTIONAL, signerInfos }
  const signedData = content?.tagClass === asn1.Class.CONTEXT_SPECIFIC && content.type === 0 ? children(content)[0] : undefined;
  const certificates = children(signedData).find((node) => node.tagClass === asn1.Class.CONTEXT_SPECIFIC && node.type === 0);
  const list = children(certificates);
  if (list.length === 0) throw fail(`is a PKCS#7 bundle without certificates (${where})`);
  return list.map((node, index) => {
    const reason = `holds a PKCS#7 entry that is not an X.509 certificate (${where}, entry ${index + 1} of ${list.length})`;
    if (node.tagClass !== asn1.Class.UNIVERSAL || node.type !== asn1.Type.SEQUENCE) throw fail(reason);
    return parseCertificateDer(Buffer.from(asn1.toDer(node).getBytes(), 'binary'), reason, fail);
  });
}

function decodeBase64(content: string): Uint8Array | undefined {
  const compact = content.replace(/\s+/g, '');
  if (compact.length === 0 || compact.length % 4 !== 0 || !BASE64.test(compact)) return undefined;
  return Buffer.from(compact, 'base64');
}

function parsePem(text: string, fail: Fail): X509Certificate[] {
  const certs: X509Certificate[] = [];
  const next = 'Download the file again, or get it from the provider\'s documented URL.';
  let open: { label: string; index: number; contentStart: number; line: number } | undefined;
  let blocks = 0;
  let outside = 0;
  const lineAt = lineCounter(text);
  const checkOutside = (from: number, to: number): void => {
    const damaged = DAMAGED_ARMOUR.exec(text.slice(from, to));
    if (damaged) throw fail(`has a damaged BEGIN or END line at line ${lineOf(text, from + damaged.index)} (wrong dashes or label)`, next);
  };
  for (const match of text.matchAll(ARMOUR)) {
    const [, kind, label = ''] = match;
    const index = match.index;
    const line = lineAt(index);
    if (kind === 'BEGIN') {
      if (open) {
        checkOutside(open.contentStart, index);
        throw fail(`is truncated or damaged: block ${blocks} (${open.label}, line ${open.line}) has no END line before the BEGIN line ${line}`, next);
      }
      checkOutside(outside, index);
      blocks++;
      open = { label, index, contentStart: index + match[0].length, line };
      continue;
    }
    if (!open) throw fail(`has an END line (${label}) at line ${line} without a BEGIN line before it`, next);
    const where = `block ${blocks} (${open.label}, line ${open.line})`;
    if (label !== open.label) throw fail(`has a mismatched ${where}: it begins as ${open.label} but ends as ${label} at line ${line}`, next);
    const content = text.slice(open.contentStart, index);
    if (/[^A-Za-z0-9+/=\s]/.test(content)) {
      if (DAMAGED_ARMOUR.test(content)) throw fail(`has a damaged BEGIN or END line inside ${where}`, next);
      throw fail(`has text that is not base64 inside ${where} (a placeholder or an edited file?)`, next);
    }
    certs.push(...decodeBlock(label, content, where, fail));
    open = undefined;
    outside = index + match[0].length;
  }
  if (open) {
    checkOutside(open.contentStart, text.length);
    throw fail(`is truncated: block ${blocks} (${open.label}, line ${open.line}) has no END line`, next);
  }
  checkOutside(outside, text.length);
  if (blocks === 0) {
    if (/<html\b|<!doctype/i.test(text)) throw fail('holds HTML, not a certificate', next);
    if (/^[A-Za-z0-9+/=\s]+$/.test(text)) {
      throw fail('holds base64 text without -----BEGIN CERTIFICATE----- and -----END CERTIFICATE----- lines', next);
    }
    throw fail('is text with no PEM certificate in it (no -----BEGIN CERTIFICATE----- line)');
  }
  return certs;
}

function decodeBlock(label: string, content: string, where: string, fail: Fail): X509Certificate[] {
  const next = 'A bundle for sslrootcert must hold certificates only: remove that block or use the provider\'s CA file.';
  if (label === 'TRUSTED CERTIFICATE') {
    throw fail(`has an OpenSSL TRUSTED CERTIFICATE in ${where}, whose trust settings pgcerts would drop`,
      'If dropping them is fine, convert it with `openssl x509 -in FILE -out ca.pem` and use ca.pem.');
  }
  if (!CERTIFICATE_LABELS.has(label) && !PKCS7_LABELS.has(label)) throw fail(`has a ${label} block, not a certificate: ${where}`, next);
  const der = decodeBase64(content);
  if (!der) throw fail(`has damaged or truncated base64 in ${where}`, 'Download the file again.');
  if (PKCS7_LABELS.has(label)) return parsePkcs7(der, where, fail);
  return [parseCertificateDer(der, `has a ${where} that does not decode to a certificate (damaged, truncated or a placeholder)`, fail)];
}

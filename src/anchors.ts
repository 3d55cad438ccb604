// Trust anchors for probes: a set of CA certificates indexed by subject and key identifier, so
// that a chain step looks its issuer up instead of trying every certificate of the set, with one
// TLS secure context per set. A CA file is parsed once per content (path and stat); Node's public
// roots are indexed from their DER when a verdict against them is first asked for, and only the
// candidates a chain names are parsed. A fleet check or the exporter probes thousands of servers
// against a handful of bundles.
import { X509Certificate, createHash } from 'node:crypto';
import { statSync, type Stats } from 'node:fs';
import { createRequire } from 'node:module';
import type { SecureContext } from 'node:tls';
import { getKeyIdentifiers, readKeyIdentifiers, readNamesDer } from './certificate.js';

let tlsModule: typeof import('node:tls') | undefined;

/**
 * node:tls, loaded on first use: loading it costs a probe some 15 ms, which it spends while the
 * server answers the SSLRequest (the secure context is made then) rather than before connecting.
 */
export function loadTls(): typeof import('node:tls') {
  tlsModule ??= createRequire(import.meta.url)('node:tls') as typeof import('node:tls');
  return tlsModule;
}

/** A set of trusted certificates, read-only once made. */
export interface AnchorSet {
  /** Certificates in the set. */
  readonly size: number;
  /** Whether the set holds the certificate with this SHA-256 fingerprint (`AB:CD:...`). */
  has(fingerprint256: string): boolean;
  /**
   * The certificates that may have issued `cert`: those whose subject is its issuer name (the
   * same DER bytes, or the same name compared loosely, as OpenSSL's canonical form ignores case
   * and spacing) or whose key identifier is its authority key identifier. Candidates, not a
   * verdict: the caller checks `checkIssued` and the signature.
   */
  findIssuers(cert: X509Certificate): readonly X509Certificate[];
  /** A TLS secure context that trusts exactly these certificates, made on first use. */
  secureContext(): SecureContext;
}

/**
 * The loose key of a name as `X509Certificate` prints it: values without escapes, trimmed, runs
 * of white space as one space, lower case. Names OpenSSL holds equal get one key.
 */
function nameKey(name: string): string {
  return name.replace(/\\/g, '').toLowerCase().split('\n').map((line) => line.replace(/\s+/g, ' ').replace(/\s*=\s*/, '=').trim()).join('\n');
}

function push<K>(map: Map<K, number[]>, key: K | undefined, index: number): void {
  if (key === undefined) return;
  const list = map.get(key);
  if (list) list.push(index);
  else map.set(key, [index]);
}

const NONE: readonly X509Certificate[] = [];

/**
 * An index over certificates known by their DER, parsed into `X509Certificate` only when a
 * lookup returns them (`parsed` may already hold some).
 */
function indexDer(ders: readonly Buffer[], parsed: Array<X509Certificate | undefined>, loose: boolean, makeContext: () => SecureContext): AnchorSet {
  const bySubject = new Map<string, number[]>();
  const byKeyId = new Map<string, number[]>();
  const byName = new Map<string, number[]>();
  ders.forEach((der, index) => {
    push(bySubject, readNamesDer(der)?.subject.toString('latin1'), index);
    push(byKeyId, readKeyIdentifiers(der).subject, index);
    const known = parsed[index];
    if (loose && known) push(byName, nameKey(known.subject), index);
  });
  // Hashed on first use: a chain that names no certificate of the set never asks.
  let fingerprints: Set<string> | undefined;
  const fingerprintSet = (): Set<string> => {
    fingerprints ??= new Set(ders.map((der, index) => parsed[index]?.fingerprint256 ?? createHash('sha256').update(der).digest('hex').toUpperCase().replace(/(..)(?!$)/g, '$1:')));
    return fingerprints;
  };
  const certAt = (index: number): X509Certificate => {
    let cert = parsed[index];
    if (!cert) {
      cert = new X509Certificate(ders[index] as Buffer);
      parsed[index] = cert;
    }
    return cert;
  };
  let context: SecureContext | undefined;
  return {
    size: ders.length,
    has: (fingerprint256) => fingerprintSet().has(fingerprint256),
    findIssuers: (cert) => {
      const hits = new Set<number>();
      const names = readNamesDer(cert.raw);
      for (const i of (names && bySubject.get(names.issuer.toString('latin1'))) ?? []) hits.add(i);
      const authority = getKeyIdentifiers(cert).authority;
      for (const i of (authority !== undefined && byKeyId.get(authority)) || []) hits.add(i);
      if (loose) for (const i of byName.get(nameKey(cert.issuer)) ?? []) hits.add(i);
      return hits.size === 0 ? NONE : [...hits].sort((a, b) => a - b).map(certAt);
    },
    secureContext: () => {
      context ??= makeContext();
      return context;
    },
  };
}

/** An anchor set over these parsed certificates (duplicates kept as given). */
export function createAnchorSet(certs: readonly X509Certificate[]): AnchorSet {
  return indexDer(certs.map((c) => c.raw), [...certs], true, () => loadTls().createSecureContext({ ca: certs.map((c) => c.toString()) }));
}

let publicRoots: AnchorSet | undefined;

/**
 * Node's built-in public root store (what `sslrootcert=system` trusts). Indexed from the DER on
 * first use (about a millisecond for 145 roots, against some 60 for parsing them all); a root is
 * parsed when a chain names it.
 */
export function getPublicRootSet(): AnchorSet {
  if (!publicRoots) {
    const { rootCertificates, createSecureContext } = loadTls();
    const ders = rootCertificates.map((pem) => Buffer.from(pem.replace(/-----[^-]+-----|\s+/g, ''), 'base64'));
    publicRoots = indexDer(ders, new Array<X509Certificate | undefined>(ders.length), false, () => createSecureContext({ ca: [...rootCertificates] }));
  }
  return publicRoots;
}

interface FileMemo {
  signature: string;
  set: AnchorSet;
}

const files = new Map<string, FileMemo>();
// A fleet uses a few CA files; a bound keeps a long-running exporter's memory flat whatever it is asked.
const MAX_FILES = 256;

/** What changes whenever the file's content or identity can have: a replaced, edited or re-permissioned file. */
function signatureOf(stat: Stats): string {
  return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
}

/**
 * The anchor set of a CA file, parsed by `read` only when the file is new or changed since the
 * last call (device, inode, size, modification and change times), so probing many servers
 * against one bundle reads and parses it once. A path that is no regular file is handed to
 * `read` every time, which names the problem.
 * @throws whatever `read` throws.
 */
export function readAnchorFile(path: string, read: (path: string) => X509Certificate[]): AnchorSet {
  let stat: Stats | undefined;
  try {
    stat = statSync(path, { throwIfNoEntry: false });
  } catch {
    stat = undefined;
  }
  const signature = stat?.isFile() ? signatureOf(stat) : undefined;
  const known = files.get(path);
  if (signature !== undefined && known?.signature === signature) return known.set;
  const set = createAnchorSet(read(path));
  if (signature === undefined) return set;
  if (files.size >= MAX_FILES && !files.has(path)) files.delete(files.keys().next().value as string);
  files.set(path, { signature, set });
  return set;
}

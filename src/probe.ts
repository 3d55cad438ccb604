import type { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import type { SecureContext, TLSSocket } from 'node:tls';
import { createAnchorSet, getPublicRootSet, loadTls, readAnchorFile, type AnchorSet } from './anchors.js';
import { summarizeCertificate, type CertificateSummary } from './certificate.js';
import { PgcertsError, UPDATE_HOW } from './errors.js';
import { MAX_CA_FILE_BYTES, describeReadError, readRegularFile } from './read-file.js';
import { normalizeHost } from './hostname.js';
import { lookupHost } from './lookup.js';
import { parseCertificates } from './pem.js';
import { quoteInput } from './redact.js';
import { getBundledRegistry, type Registry } from './registry.js';
import type { CertificateStatus, Provider, SslMode } from './registry-types.js';
import { getSslRootCertCached, getSslRootCertForProvider, type ResolveOptions } from './resolve.js';
import { rankStatus, type MonitoringStatus } from './status.js';
import { findLookalikePin } from './validate.js';

/** A probe's verdict, in the monitoring convention (exit codes 0, 1, 2, 3). */
export type ProbeStatus = MonitoringStatus;

/** What went wrong, machine-readable. */
export type ProbeProblemCode =
  /** UNKNOWN: no verdict is possible. */
  | 'connection-refused'
  | 'dns-failed'
  | 'connection-failed'
  | 'timeout'
  | 'not-postgres'
  | 'no-bundle'
  /** CRITICAL: a client with sslmode=verify-full fails, or must not connect. */
  | 'ssl-off'
  | 'extra-bytes'
  | 'tls-handshake-failed'
  | 'alpn-missing'
  | 'untrusted'
  /** OpenSSL (which libpq uses) refuses a chain whose signatures lead to a trusted root. */
  | 'chain-rejected'
  | 'hostname-mismatch'
  | 'expired'
  | 'not-yet-valid'
  /** CRITICAL within `criticalDays`, WARNING within `warnDays`. */
  | 'expires-soon'
  /** CRITICAL: the chain ends at a CA carrying a pinned certificate's name with another fingerprint. */
  | 'lookalike'
  /** WARNING: the chain verifies against the registry's bundle through a CA the registry does not pin. */
  | 'unpinned';

export interface ProbeProblem {
  code: ProbeProblemCode;
  status: Exclude<ProbeStatus, 'OK'>;
  /** One sentence naming the value and the next step. */
  message: string;
}

/** A certificate the server sent. */
export interface ServedCertificate extends CertificateSummary {
  /** `DNS:name`, `IP Address:addr`, ... as Node prints them. */
  subjectAltNames: string[];
  /** Whole days from `now` until `notAfter`; negative once expired. */
  daysLeft: number;
}

/** The registry's pin for a certificate, when it has one. */
export interface PinnedInfo {
  provider: string;
  status: CertificateStatus;
  region: string | undefined;
}

/** The trusted certificate a verified chain ends at. */
export interface AnchorCertificate extends CertificateSummary {
  daysLeft: number;
  /** Set when the registry pins this exact certificate (by SHA-256). */
  pinned: PinnedInfo | undefined;
  /** True when the registry does not pin it (the opposite of `pinned`, spelt out for JSON readers). */
  unpinned: boolean;
}

/** Whether the served chain verifies against one set of trusted certificates. */
export interface TrustVerdict {
  verified: boolean;
  /** Why not, when `verified` is false. */
  reason: string | undefined;
  anchor: AnchorCertificate | undefined;
  /** Subjects from the server certificate up to the anchor, when verified. */
  path: string[];
}

/** The verdict against the CA bundle a client should use (`--sslrootcert` or the registry's). */
export interface BundleVerdict extends TrustVerdict {
  source: 'sslrootcert' | 'registry';
  /** The bundle file; undefined when none could be had (see `reason`). */
  file: string | undefined;
  provider: string | undefined;
  trust: string | undefined;
  /** The sslmode the registry recommends with this bundle (`verify-ca` means the name is not checked). */
  sslmode: SslMode | undefined;
  /** Certificates in the bundle. */
  certificates: number;
  warnings: string[];
}

/** A probe of one server: what it served and whether clients will accept it. */
export interface ProbeReport {
  status: ProbeStatus;
  /** One line: the problems of the worst status, or what is fine. */
  summary: string;
  /** Worst first. */
  problems: ProbeProblem[];
  host: string;
  port: number;
  /** The address connected to, once connected. */
  address: string | undefined;
  /** libpq's `sslnegotiation`: `postgres` (SSLRequest first) or `direct` (TLS first, PostgreSQL 17+). */
  negotiation: 'postgres' | 'direct';
  /** The server's one-byte answer to the SSLRequest, when it gave one. */
  sslResponse: 'S' | 'N' | undefined;
  checkedAt: string;
  tls: { version: string; cipher: string; alpn: string | undefined } | undefined;
  /** As served, from the server certificate up (certificates that do not chain are left out). */
  chain: ServedCertificate[];
  hostname: { name: string; matches: boolean; matchedBy: string | undefined; required: boolean } | undefined;
  bundle: BundleVerdict | undefined;
  /** Node's built-in public roots: would `sslrootcert=system` verify the chain? */
  publicRoots: TrustVerdict | undefined;
  expiry: { serverDaysLeft: number; anchorDaysLeft: number | undefined } | undefined;
}

/** Options of {@link probeServer}. */
export interface ProbeOptions extends ResolveOptions {
  /** The host name to verify (and to connect to unless `hostaddr`). */
  host: string;
  /** Default 5432. */
  port?: number;
  /** Connect to this IP address, still sending and verifying `host` (libpq's `hostaddr`). */
  hostaddr?: string;
  /** PostgreSQL 17+ direct TLS: no SSLRequest, TLS from the first byte with ALPN `postgresql`. */
  direct?: boolean;
  /** For the whole probe: connect, SSLRequest and TLS handshake. Default 10 s. */
  timeoutMs?: number;
  /** Verify against this CA file instead of the registry's bundle for the host. */
  sslrootcert?: string;
  /** Use this provider's bundle although the host name does not name it (an IP address, an alias). */
  provider?: string;
  /** WARNING when a certificate on the chain expires within this many days (default 30). */
  warnDays?: number;
  /** CRITICAL when a certificate on the chain expires within this many days (default 14). */
  criticalDays?: number;
}

const DAY_MS = 86_400_000;
// SSLRequest: Int32 length 8, Int32 code 80877103 (https://www.postgresql.org/docs/current/protocol-message-formats.html).
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
// A server says nothing after `S` until the client's ClientHello, so bytes that came with the `S`
// were put there by someone else (CVE-2021-23222). The handshake starts at once, as libpq's does:
// bytes arriving later are read by TLS, which fails on them (NOT_TLS_ERRORS) instead of passing them on.
const MAX_CHAIN_DEPTH = 8;

type Phase = 'connecting' | 'waiting for the answer to the SSLRequest' | 'in the TLS handshake';

type Attempt =
  | { ok: true; socket: TLSSocket; address: string | undefined; sslResponse: 'S' | undefined }
  | { ok: false; problem: ProbeProblem; address: string | undefined; sslResponse: 'S' | 'N' | undefined };

/**
 * Probe a PostgreSQL server's TLS like a `sslmode=verify-full` client, without logging in: send
 * the SSLRequest (or, with `direct`, start TLS at once), take the served certificate chain, close,
 * and check the chain against the registry's bundle for the host (or `sslrootcert`), against
 * Node's public roots, the host name and the expiry dates. Network failures are findings in the
 * report (status UNKNOWN or CRITICAL), not exceptions.
 * @throws PgcertsError `INVALID_INPUT` (host, port, hostaddr, timeout or days), `UNKNOWN_PROVIDER`,
 * and `DECODE_FAILED` when `sslrootcert` cannot be read.
 * @example const report = await probeServer({ host: 'mydb.abc123.eu-west-1.rds.amazonaws.com' });
 */
export async function probeServer(options: ProbeOptions): Promise<ProbeReport> {
  const normalized = normalizeHost(options.host);
  if (normalized.type === 'invalid') throw new PgcertsError('INVALID_INPUT', `${quoteInput(options.host)} is not a valid host name: ${normalized.reason}. Give the server's DNS name or IP address.`);
  const host = normalized.host;
  const port = options.port ?? 5432;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new PgcertsError('INVALID_INPUT', `Port "${port}" is not a number from 1 to 65535; fix the port.`);
  if (options.hostaddr !== undefined && isIP(options.hostaddr) === 0) {
    throw new PgcertsError('INVALID_INPUT', `hostaddr ${quoteInput(options.hostaddr)} is not an IP address; give the address to connect to, and the name to verify as the host.`);
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) throw new PgcertsError('INVALID_INPUT', `Timeout "${timeoutMs}" ms is not a positive number; give a timeout above 0.`);
  const warnDays = options.warnDays ?? 30;
  const criticalDays = options.criticalDays ?? 14;
  for (const [name, days] of [['warnDays', warnDays], ['criticalDays', criticalDays]] as const) {
    if (!Number.isInteger(days) || days < 0) throw new PgcertsError('INVALID_INPUT', `${name} "${days}" is not a whole number of days from 0 up; fix it.`);
  }
  let opened: Registry | undefined;
  const openRegistry = (): Registry => (opened ??= options.registry ?? getBundledRegistry());
  const forced = options.provider === undefined ? undefined : openRegistry().getProvider(options.provider);
  const now = options.now ?? new Date();

  const report: ProbeReport = {
    status: 'OK', summary: '', problems: [], host, port, address: undefined,
    negotiation: options.direct ? 'direct' : 'postgres', sslResponse: undefined, checkedAt: now.toISOString(),
    tls: undefined, chain: [], hostname: undefined, bundle: undefined, publicRoots: undefined, expiry: undefined,
  };
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  // The roots are read (the CA file, or the host's bundle from the cache, the shipped roots or a
  // download) once the SSLRequest is on its way, so that a probe spends the round trip on them.
  let reading: Promise<{ bundle: ResolvedBundle; anchors: AnchorSet }> | undefined;
  const readTrust = (): Promise<{ bundle: ResolvedBundle; anchors: AnchorSet }> => (reading ??= (async () => {
    const given = options.sslrootcert === undefined ? undefined : readCaFile(options.sslrootcert);
    const bundle: ResolvedBundle = given
      ? { source: 'sslrootcert' as const, file: given.file, anchors: given.anchors, provider: undefined, trust: undefined, sslmode: undefined, warnings: [], error: undefined }
      : await resolveBundle(host, forced, { ...options, registry: openRegistry(), now });
    // The handshake is verified by OpenSSL against the same roots a client would use (the bundle,
    // else the public roots, as sslrootcert=system), so its verdict covers what libpq checks
    // beyond signatures: key usage and serverAuth, CA flags, path lengths, name constraints, weak keys.
    return { bundle, anchors: bundle.error === undefined ? bundle.anchors : getPublicRootSet() };
  })());
  const attempt = await connectTls({
    host, port, connectTo: options.hostaddr ?? host, direct: options.direct === true, timeoutMs, where,
    servername: normalized.type === 'name' ? host : undefined,
    secureContext: async () => (await readTrust()).anchors.secureContext(),
    whileWaiting: () => prepareVerdicts(openRegistry()),
  });
  report.address = attempt.address;
  report.sslResponse = attempt.sslResponse;
  if (!attempt.ok) {
    // Bad input is reported as such, as it was before anything was sent: a CA file that cannot be
    // read, a provider's bundle that cannot be had. No download is started for a server that failed.
    if (reading) await reading;
    else if (options.sslrootcert !== undefined) readCaFile(options.sslrootcert);
    return finish(report, [attempt.problem], where);
  }
  const { bundle, anchors } = await readTrust();
  const registry = openRegistry();

  const { socket } = attempt;
  const problems: ProbeProblem[] = [];
  let served: X509Certificate[];
  let opensslError: string | undefined;
  try {
    const cipher = socket.getCipher();
    report.tls = { version: socket.getProtocol() ?? 'unknown', cipher: cipher.standardName ?? cipher.name, alpn: socket.alpnProtocol || undefined };
    served = readServedChain(socket, anchors);
    opensslError = socket.authorized ? undefined : String(socket.authorizationError ?? 'UNKNOWN');
  } finally {
    // Never send a startup message or credentials: the handshake is all a probe needs. end()
    // rather than destroy(), so the client's last handshake message and close_notify reach the
    // server (which then logs a clean disconnect); destroy() if it lingers.
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  }
  if (options.direct && report.tls.alpn !== 'postgresql') {
    problems.push({ code: 'alpn-missing', status: 'CRITICAL', message: `${where} completed direct TLS without selecting ALPN "postgresql"; libpq refuses such a connection, so this is not a PostgreSQL 17+ server with direct TLS (or a proxy strips ALPN). Probe without --direct.` });
  }
  const leaf = served[0];
  if (!leaf) {
    return finish(report, [...problems, { code: 'tls-handshake-failed', status: 'CRITICAL', message: `${where} sent no certificate in the TLS handshake; verify-full cannot work. Configure ssl_cert_file on the server.` }], where);
  }
  report.chain = served.map((cert) => ({ ...summarizeCertificate(cert), subjectAltNames: splitAltNames(cert.subjectAltName), daysLeft: daysLeft(cert, now) }));
  const bundleTrust = bundle.error === undefined ? verifyChain(served, bundle.anchors, now, bundle.source === 'sslrootcert' ? 'the CA file' : 'the bundle') : undefined;
  report.bundle = {
    verified: bundleTrust?.verified ?? false,
    reason: bundle.error ?? bundleTrust?.reason,
    anchor: bundleTrust?.anchor && describeAnchor(bundleTrust.anchor, registry, now),
    path: bundleTrust?.path.map((c) => summarizeCertificate(c).subject) ?? [],
    source: bundle.source, file: bundle.file, provider: bundle.provider, trust: bundle.trust, sslmode: bundle.sslmode,
    certificates: bundle.anchors.size, warnings: bundle.warnings,
  };
  const systemTrust = verifyChain(served, getPublicRootSet(), now, "Node's public root store");
  report.publicRoots = {
    verified: systemTrust.verified, reason: systemTrust.reason, path: systemTrust.path.map((c) => summarizeCertificate(c).subject),
    anchor: systemTrust.anchor && describeAnchor(systemTrust.anchor, registry, now),
  };

  const what = bundle.source === 'sslrootcert' ? `the CA file "${bundle.file}"` : `the ${bundle.provider ?? 'registry'} bundle${bundle.file ? ` "${bundle.file}"` : ''}`;
  let usedPath: X509Certificate[] = [leaf];
  const rejected = (store: string): ProbeProblem | undefined => {
    // Dates are judged by the expiry checks against `now`; OpenSSL reads the wall clock.
    if (opensslError === undefined || OPENSSL_DATE_ERRORS.has(opensslError)) return undefined;
    return { code: 'chain-rejected', status: 'CRITICAL', message: `The certificate chain of ${where} leads to ${store}, but OpenSSL, which libpq uses, refuses it: ${describeOpensslError(opensslError)} (${opensslError}). A verify-full client will not connect; reissue the server certificate.` };
  };
  if (bundleTrust?.verified) {
    usedPath = bundleTrust.path;
    const problem = rejected(what);
    if (problem) problems.push(problem);
  } else if (bundleTrust) {
    const also = systemTrust.verified ? ' It does verify against the public roots: try sslrootcert=system, and report the registry entry if that is the provider\'s CA.' : '';
    problems.push({ code: 'untrusted', status: 'CRITICAL', message: `The certificate chain of ${where} does not verify against ${what}: ${bundleTrust.reason}.${also || (bundle.source === 'sslrootcert' ? ' Check that the file holds the CA of this server.' : ' Check that the bundle is the right one for this server (`pgcerts lookup`), or fetch it again (`pgcerts fetch --force`).')}` });
  } else if (systemTrust.verified) {
    usedPath = systemTrust.path;
    const problem = rejected('the public roots');
    if (problem) problems.push(problem);
  } else {
    problems.push({ code: 'no-bundle', status: 'UNKNOWN', message: `No CA bundle to verify ${where} against: ${bundle.error} The chain does not verify against the public roots either (${systemTrust.reason}). Pass --sslrootcert FILE or --provider ID.` });
  }

  const required = bundle.sslmode !== 'verify-ca';
  const matchedBy = checkName(leaf, host, normalized.type === 'ip');
  report.hostname = { name: host, matches: matchedBy !== undefined, matchedBy, required };
  if (matchedBy === undefined && required) {
    const names = report.chain[0]?.subjectAltNames.join(', ') || `only the subject ${report.chain[0]?.subject}`;
    problems.push({ code: 'hostname-mismatch', status: 'CRITICAL', message: `The certificate of ${where} does not name "${host}" (it names ${names}), so verify-full fails. Connect with a name the certificate lists.` });
  }

  problems.push(...checkAnchor(usedPath, bundleTrust?.verified === true ? report.bundle : undefined, registry, where));
  problems.push(...checkExpiry(usedPath, now, warnDays, criticalDays));
  const anchor = usedPath.length > 1 ? usedPath[usedPath.length - 1] : undefined;
  report.expiry = { serverDaysLeft: daysLeft(leaf, now), anchorDaysLeft: anchor && daysLeft(anchor, now) };
  return finish(report, problems, where, usedPath);
}

function finish(report: ProbeReport, problems: ProbeProblem[], where: string, path: X509Certificate[] = []): ProbeReport {
  const sorted = [...problems].sort((a, b) => rankStatus(b.status) - rankStatus(a.status));
  report.problems = sorted;
  report.status = sorted[0]?.status ?? 'OK';
  if (sorted.length > 0) {
    const messages = sorted.filter((p) => p.status === report.status).map((p) => p.message).join(' ');
    report.summary = messages.includes(where) ? messages : `${where}: ${messages}`;
    return report;
  }
  const bundle = report.bundle;
  const against = bundle?.verified
    ? `${bundle.source === 'sslrootcert' ? 'the CA file' : `the ${bundle.provider ?? 'registry'} bundle`}`
    : 'the public roots';
  const anchor = bundle?.verified ? bundle.anchor : report.publicRoots?.anchor;
  const name = report.hostname?.matches ? 'host name matches' : 'host name not checked (verify-ca)';
  const soonest = Math.min(...path.map((c) => Date.parse(c.validTo)));
  const days = Math.trunc((soonest - Date.parse(report.checkedAt)) / DAY_MS);
  report.summary = `${where}: ${report.tls?.version ?? 'TLS'}, chain verifies against ${against} (anchor "${commonName(anchor?.subject ?? '')}"), ${name}, first expiry in ${days} days`;
  return report;
}

function commonName(subject: string): string {
  return /(?:^|, )CN=((?:[^,\\]|\\.)*)/.exec(subject)?.[1] ?? subject;
}

/** Whole days until `notAfter`: 5.9 days left is 5, expired 2.1 days ago is -2. */
function daysLeft(cert: X509Certificate, now: Date): number {
  return Math.trunc((Date.parse(cert.validTo) - now.getTime()) / DAY_MS) || 0;
}

/**
 * Read a CA file as `sslrootcert` for probes, to refuse an unusable one before any probe (the
 * exporter's `--sslrootcert`); later probes reuse the parse while the file stays the same.
 * @throws PgcertsError `INVALID_INPUT` naming the file and the problem.
 */
export function readProbeCaFile(file: string): { path: string; certificates: number } {
  const { file: path, anchors } = readCaFile(file);
  return { path, certificates: anchors.size };
}

/** The `sslrootcert` file, read and parsed once while it stays the same file with the same content. */
function readCaFile(file: string): { file: string; anchors: AnchorSet } {
  const path = resolvePath(file);
  const anchors = readAnchorFile(path, () => {
    let bytes: Buffer;
    try {
      bytes = readRegularFile(path, { maxBytes: MAX_CA_FILE_BYTES });
    } catch (cause) {
      if (cause instanceof PgcertsError) throw new PgcertsError('INVALID_INPUT', `Cannot use the CA file given as sslrootcert: ${cause.message}`, { cause });
      throw new PgcertsError('INVALID_INPUT', `Cannot read the CA file "${file}": ${describeReadError(cause)}. Check the path given as sslrootcert.`, { cause });
    }
    return parseCertificates(bytes, { name: file });
  });
  return { file: path, anchors };
}

interface ConnectOptions {
  host: string;
  port: number;
  connectTo: string;
  servername: string | undefined;
  direct: boolean;
  timeoutMs: number;
  where: string;
  /**
   * The roots OpenSSL verifies the handshake against (the verdict is read, never enforced). A
   * function, called once the SSLRequest is on its way: reading the bundle and the first secure
   * context of a process (Node builds its root store then) cost tens of milliseconds, which a
   * probe spends while the server answers. A rejection fails the attempt; the caller reports it.
   */
  secureContext: () => Promise<SecureContext>;
  /** Work that does not depend on the server's answer, done while it is on the way. */
  whileWaiting?: () => void;
}

/** OpenSSL's verdicts about dates, left to the expiry checks (which use the injected clock). */
const OPENSSL_DATE_ERRORS = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

/** What OpenSSL's verification codes (X509_V_ERR_*, as Node names them) mean for a server chain. */
function describeOpensslError(code: string): string {
  switch (code) {
    case 'INVALID_PURPOSE': return 'a certificate may not be used for this purpose (the server certificate lacks serverAuth in its extended key usage, or a CA lacks keyCertSign)';
    case 'PATH_LENGTH_EXCEEDED': return 'the chain is longer than a CA\'s pathLenConstraint allows';
    case 'INVALID_CA': return 'a certificate that signs another is not a valid CA (basicConstraints CA:FALSE or missing)';
    case 'PERMITTED_VIOLATION': return 'a name in the server certificate is outside the names a CA\'s name constraints permit';
    case 'EXCLUDED_VIOLATION': return 'a name in the server certificate is one a CA\'s name constraints exclude';
    case 'CA_KEY_TOO_SMALL': case 'EE_KEY_TOO_SMALL': return 'a key is too small for OpenSSL\'s security level';
    case 'CA_MD_TOO_WEAK': return 'a certificate is signed with a digest too weak for OpenSSL\'s security level (such as SHA-1)';
    case 'CERT_SIGNATURE_FAILURE': return 'a signature in the chain does not verify';
    case 'UNHANDLED_CRITICAL_EXTENSION': return 'a certificate has a critical extension OpenSSL does not understand';
    default: return 'the chain fails OpenSSL\'s verification';
  }
}

/** Printable text of an unexpected answer, for a message: the first line, or hex for binary. */
function describeAnswer(chunk: Buffer): string {
  if (chunk[0] === 0x45) {
    // ErrorResponse: 'E', Int32 length, then fields of a type byte and a C string; 'M' is the message.
    const fields = chunk.subarray(5).toString('latin1').split('\0');
    const message = fields.find((f) => f.startsWith('M'))?.slice(1) ?? fields.find((f) => /^[A-Za-z]/.test(f) && f.length > 4);
    if (message) return `an error message ("${printable(message)}")`;
  }
  const text = chunk.subarray(0, 80).toString('latin1').split(/\r?\n/)[0] ?? '';
  if (/^[\x20-\x7e]{3,}$/.test(text)) return `"${printable(text)}"`;
  return `bytes ${chunk.subarray(0, 8).toString('hex').replace(/(..)(?!$)/g, '$1 ')}`;
}

function printable(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 60 ? `${clean.slice(0, 60)}...` : clean;
}

function failure(code: ProbeProblemCode, status: ProbeProblem['status'], message: string): ProbeProblem {
  return { code, status, message };
}

function networkProblem(error: NodeJS.ErrnoException, phase: Phase, o: ConnectOptions): ProbeProblem {
  const aggregate = (error as { errors?: NodeJS.ErrnoException[] }).errors;
  const code = error.code ?? aggregate?.[0]?.code;
  const target = o.connectTo === o.host ? o.where : `${o.where} (at ${o.connectTo})`;
  if (code === 'ECONNREFUSED') return failure('connection-refused', 'UNKNOWN', `Connection to ${target} refused: nothing listens there. Check the host and the port.`);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL' || code === 'EAI_NODATA') {
    return failure('dns-failed', 'UNKNOWN', `Cannot resolve "${o.connectTo}" (${code}). Check the host name and DNS.`);
  }
  if (phase === 'in the TLS handshake') return handshakeProblem(error, o);
  if (phase !== 'connecting' && (code === 'ECONNRESET' || code === 'EPIPE')) {
    return failure('not-postgres', 'UNKNOWN', `${target} reset the connection ${phase}: not a PostgreSQL server, or one that refuses this client. Check the port.`);
  }
  return failure('connection-failed', 'UNKNOWN', `Cannot connect to ${target}: ${code ?? error.message}. Check the host, the port and firewalls.`);
}

/** OpenSSL's record-layer verdicts on bytes that are not TLS at all (not a TLS record header). */
const NOT_TLS_ERRORS = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_RECORD_LAYER_FAILURE']);

function handshakeProblem(error: NodeJS.ErrnoException & { reason?: string }, o: ConnectOptions): ProbeProblem {
  const closed = error.code === 'ECONNRESET' || /disconnected|socket hang up/i.test(error.message);
  // OpenSSL's messages read "<hex>:error:<code>:SSL routines:<function>:<reason>:<file>:<line>:";
  // Node gives the reason on its own.
  const reason = closed ? 'the server closed the connection' : error.reason ?? error.message.replace(/^.*routines:[^:]*:/, '').replace(/:[^:]*\.c:\d+:?$/, '').trim();
  if (!o.direct && !closed && error.code !== undefined && NOT_TLS_ERRORS.has(error.code)) {
    // Bytes after the `S` that came in a later read than it: TLS read them and refused them.
    return failure('extra-bytes', 'CRITICAL', `${o.where} answered "S" to the SSLRequest and then sent bytes that are not TLS (OpenSSL: ${reason}): someone on the network path may be injecting data (CVE-2021-23222), or something in between answers for the server without speaking TLS. Do not connect until the path is trusted.`);
  }
  const hint = o.direct
    ? ' A server older than PostgreSQL 17 does not accept direct TLS: probe without --direct.'
    : ' Check the server\'s ssl settings and ssl_min_protocol_version.';
  return failure('tls-handshake-failed', 'CRITICAL', `TLS handshake with ${o.where} failed: ${reason}.${hint}`);
}

let prepared: Registry | undefined;

/**
 * What every probe's verdicts use whatever the server answers, made (once per registry) while the
 * first answer is on the way instead of after it: the public roots' index (the sslrootcert=system
 * verdict), the registry's pins by name (lookalikes), and the expression with which Node's
 * tls.connect checks that the server name is not an IP address (net.isIP, whose IPv6 pattern V8
 * compiles on its first use and again to machine code on its second: about 10 ms of a probe).
 */
function prepareVerdicts(registry: Registry): void {
  if (prepared === registry) return;
  prepared = registry;
  getPublicRootSet();
  findLookalikePin(registry.providers, '', '');
  isIP('pgcerts.invalid');
  isIP('pgcerts.invalid');
}

/** Connect, negotiate TLS (SSLRequest or direct) and finish the handshake, or say why not. */
function connectTls(o: ConnectOptions): Promise<Attempt> {
  return new Promise((resolve) => {
    let phase: Phase = 'connecting';
    let address: string | undefined;
    let sslResponse: 'S' | 'N' | undefined;
    let tlsSocket: TLSSocket | undefined;
    let done = false;
    let context: SecureContext | undefined;
    let contextReady: Promise<void> | undefined;
    const raw: Socket = netConnect({ host: o.connectTo, port: o.port });
    const settle = (result: Attempt): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!result.ok) {
        tlsSocket?.destroy();
        raw.destroy();
      }
      resolve(result);
    };
    const fail = (problem: ProbeProblem): void => settle({ ok: false, problem, address, sslResponse });
    const seconds = o.timeoutMs >= 1000 ? `${+(o.timeoutMs / 1000).toFixed(1)} s` : `${o.timeoutMs} ms`;
    const onTimeout = (): void => {
      const target = o.connectTo === o.host ? o.where : `${o.where} (at ${o.connectTo})`;
      fail(failure('timeout', 'UNKNOWN', `No answer from ${target} within ${seconds} ${phase}. Check firewalls and the port, or raise --timeout.`));
    };
    let timer = setTimeout(onTimeout, o.timeoutMs);
    const readContext = (): Promise<void> => {
      contextReady ??= o.secureContext().then((made) => {
        context = made;
      }, (error: unknown) => {
        // Bad input (an unreadable CA file, say): the caller reads the same rejection and throws it.
        fail(failure('no-bundle', 'UNKNOWN', `No CA bundle to verify ${o.where} against: ${error instanceof Error ? error.message : String(error)}`));
      });
      return contextReady;
    };
    /** Start TLS once the roots are read; the server's clock stops while a download finishes. */
    const whenReady = (start: () => void): void => {
      if (context) {
        start();
        return;
      }
      clearTimeout(timer);
      void readContext().then(() => {
        if (done) return;
        timer = setTimeout(onTimeout, o.timeoutMs);
        start();
      });
    };
    raw.on('error', (error: NodeJS.ErrnoException) => fail(networkProblem(error, phase, o)));

    const extraBytes = (count: number): void => fail(failure('extra-bytes', 'CRITICAL',
      `${o.where} sent ${count} more byte(s) after "S" and before the TLS handshake: someone on the network path may be injecting data (CVE-2021-23222). Do not connect until the path is trusted.`));

    const startTls = (): void => {
      phase = 'in the TLS handshake';
      // Never rejected here: the verdict (socket.authorized) is read after the handshake, next to
      // the chain checks of verifyChain, so that every reason can be reported.
      tlsSocket = loadTls().connect({
        socket: raw, servername: o.servername, rejectUnauthorized: false, secureContext: context,
        // The name is checked by checkName, with libpq's rules rather than Node's.
        checkServerIdentity: () => undefined,
        ALPNProtocols: o.direct ? ['postgresql'] : undefined,
      });
      // Node builds the detailed peer certificate (every field of every certificate, about half a
      // millisecond of a probe's CPU) only to hand it to checkServerIdentity, which ignores it
      // here; the chain is read through getPeerX509Certificate (readServedChain).
      tlsSocket.getPeerCertificate = (() => ({})) as unknown as TLSSocket['getPeerCertificate'];
      tlsSocket.on('error', (error: NodeJS.ErrnoException) => fail(handshakeProblem(error, o)));
      tlsSocket.once('secureConnect', () => {
        const socket = tlsSocket as TLSSocket;
        socket.removeAllListeners('error');
        socket.on('error', () => undefined);
        settle({ ok: true, socket, address, sslResponse: o.direct ? undefined : 'S' });
      });
    };

    let answered = false;
    const onData = (chunk: Buffer): void => {
      if (answered) {
        extraBytes(chunk.length);
        return;
      }
      answered = true;
      const first = chunk[0];
      if (first === 0x53) {
        sslResponse = 'S';
        if (chunk.length > 1) {
          extraBytes(chunk.length - 1);
          return;
        }
        // Synchronously, inside this read: nothing else can have been buffered after the `S`.
        // Should the roots still be on their way, what arrives meanwhile is buffered, and counted.
        raw.off('data', onData);
        raw.off('end', onEnd);
        raw.pause();
        whenReady(() => {
          if (raw.readableLength > 0) extraBytes(raw.readableLength);
          else startTls();
        });
        return;
      }
      if (first === 0x4e) {
        sslResponse = 'N';
        fail(failure('ssl-off', 'CRITICAL', `${o.where} answered "N" to the SSLRequest: the server has SSL turned off, so sslmode=verify-full (or require) cannot connect. Turn ssl on in postgresql.conf.`));
        return;
      }
      fail(failure('not-postgres', 'UNKNOWN', `${o.where} is not a PostgreSQL server (or one older than 7.1): it answered the SSLRequest with ${describeAnswer(chunk)} instead of "S" or "N". Check the port.`));
    };
    const onEnd = (): void => {
      if (!answered) fail(failure('not-postgres', 'UNKNOWN', `${o.where} closed the connection without answering the SSLRequest: not a PostgreSQL server, or one that refuses this client. Check the port.`));
    };

    raw.once('connect', () => {
      address = raw.remoteAddress;
      if (o.direct) {
        whenReady(startTls);
        o.whileWaiting?.();
        return;
      }
      phase = 'waiting for the answer to the SSLRequest';
      raw.on('data', onData);
      raw.once('end', onEnd);
      raw.write(SSL_REQUEST);
      // Read during the round trip rather than before it; an answer that arrives meanwhile is
      // read afterwards, as one chunk with whatever came with it.
      void readContext();
      o.whileWaiting?.();
    });
  });
}

/**
 * The served chain from the server certificate up, each certificate once, linked by issuer as
 * OpenSSL links a peer chain (a server may send its certificates in any order, and others
 * besides). Certificates that do not chain are left out, and so are trusted certificates at its
 * top: the list is what the server sent, less any copy of a trusted root it also sent.
 */
function readServedChain(socket: TLSSocket, trusted: AnchorSet): X509Certificate[] {
  // getPeerX509Certificate's issuerCertificate links give the certificates in the order sent, and
  // cost a tenth of getPeerCertificate(true), which also describes every field of each one.
  const sent: X509Certificate[] = [];
  const seen = new Set<string>();
  let next: X509Certificate | undefined = socket.getPeerX509Certificate();
  for (let i = 0; next && i < 4 * MAX_CHAIN_DEPTH; i++, next = next.issuerCertificate) {
    if (seen.has(next.fingerprint256)) continue;
    seen.add(next.fingerprint256);
    sent.push(next);
  }
  const leaf = sent[0];
  if (!leaf) return [];
  const chain = [leaf];
  let rest = sent.slice(1);
  for (let top = leaf; chain.length <= MAX_CHAIN_DEPTH && !isSelfIssued(top);) {
    const current = top;
    const issuer = rest.find((c) => current.checkIssued(c));
    if (!issuer) break;
    chain.push(issuer);
    rest = rest.filter((c) => c !== issuer);
    top = issuer;
  }
  while (chain.length > 1 && trusted.has((chain[chain.length - 1] as X509Certificate).fingerprint256)) chain.pop();
  return chain;
}

function splitAltNames(text: string | undefined): string[] {
  if (!text) return [];
  // Node quotes values that contain a comma or quote, so split only outside quotes.
  return text.match(/[^,"]+(?:"(?:[^"\\]|\\.)*")?[^,]*/g)?.map((s) => s.trim()).filter(Boolean) ?? [];
}

/** The SAN (or, without DNS SANs, the subject CN) that matches, as libpq's verify-full checks it. */
function checkName(cert: X509Certificate, host: string, ip: boolean): string | undefined {
  if (ip) return cert.checkIP(host) === undefined ? undefined : `IP Address:${host}`;
  // libpq accepts a wildcard only as the whole leftmost label.
  const name = cert.checkHost(host, { subject: 'default', wildcards: true, partialWildcards: false, multiLabelWildcards: false });
  if (name === undefined) return undefined;
  return cert.subjectAltName?.includes('DNS:') ? `DNS:${name}` : `CN=${name}`;
}

interface ChainResult {
  verified: boolean;
  reason: string | undefined;
  anchor: X509Certificate | undefined;
  path: X509Certificate[];
}

/** A root, or a self-signed server certificate (whose key usage may not allow checkIssued). */
function isSelfIssued(cert: X509Certificate): boolean {
  return cert.checkIssued(cert) || (cert.subject === cert.issuer && cert.verify(cert.publicKey));
}

function issues(issuer: X509Certificate, cert: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

/**
 * Build a path from the server certificate through served intermediates to a self-signed
 * certificate of `anchors`, checking issuer names and signatures (RSA, RSA-PSS, EC) with
 * node:crypto, as OpenSSL does for libpq (no partial chains). Dates are left to the expiry checks,
 * so that an expired certificate is reported as expired, not as untrusted; among several issuers
 * the ones valid at `now` are tried first.
 */
function verifyChain(served: X509Certificate[], anchors: AnchorSet, now: Date, store: string): ChainResult {
  const leaf = served[0] as X509Certificate;
  const valid = (c: X509Certificate): number => Number(Date.parse(c.validTo) > now.getTime() && Date.parse(c.validFrom) <= now.getTime());
  const walk = (cert: X509Certificate, path: X509Certificate[]): X509Certificate[] | undefined => {
    if (isSelfIssued(cert) && anchors.has(cert.fingerprint256)) return path;
    if (path.length > MAX_CHAIN_DEPTH) return undefined;
    const seen = new Set(path.map((c) => c.fingerprint256));
    const candidates = (pool: readonly X509Certificate[]): X509Certificate[] =>
      pool.filter((c) => c.ca && !seen.has(c.fingerprint256) && issues(c, cert)).sort((a, b) => valid(b) - valid(a));
    for (const issuer of [...candidates(anchors.findIssuers(cert)), ...candidates(served.slice(1))]) {
      const found = walk(issuer, [...path, issuer]);
      if (found) return found;
    }
    return undefined;
  };
  const path = walk(leaf, [leaf]);
  if (path) return { verified: true, reason: undefined, anchor: path[path.length - 1], path };
  return { verified: false, reason: explainFailure(served, anchors, store), anchor: undefined, path: [] };
}

/** Why no path exists: the highest certificate the served chain reaches, and what the store lacks for it. */
function explainFailure(served: X509Certificate[], anchors: AnchorSet, store: string): string {
  let top = served[0] as X509Certificate;
  for (let depth = 0; depth < MAX_CHAIN_DEPTH && !isSelfIssued(top); depth++) {
    const current = top;
    const next = served.find((c) => c !== current && c.ca && issues(c, current));
    if (!next) break;
    top = next;
  }
  const oneLine = (name: string): string => name.split('\n').join(', ');
  if (anchors.size === 0) return `${store} holds no certificates`;
  if (top !== served[0] && isSelfIssued(top)) return `the server's root "${oneLine(top.subject)}" is not in ${store}`;
  if (anchors.findIssuers(top).some((c) => c.subject === top.issuer)) {
    return `${store} holds a certificate named "${oneLine(top.issuer)}", but its key did not sign "${oneLine(top.subject)}" (a forgery, or a re-keyed CA)`;
  }
  return `no certificate in ${store} issued "${oneLine(top.issuer)}"`;
}

const pinIndexes = new WeakMap<Registry, Map<string, PinnedInfo>>();

/** The registry's pin of a fingerprint (the first provider's, in registry order). */
function findPin(registry: Registry, sha256: string): PinnedInfo | undefined {
  let index = pinIndexes.get(registry);
  if (!index) {
    index = new Map();
    for (const provider of registry.providers) {
      for (const pin of provider.certificates) {
        if (!index.has(pin.sha256)) index.set(pin.sha256, { provider: provider.id, status: pin.status, region: pin.region });
      }
    }
    pinIndexes.set(registry, index);
  }
  const found = index.get(sha256);
  return found && { ...found };
}

function describeAnchor(cert: X509Certificate, registry: Registry, now: Date): AnchorCertificate {
  const pinned = findPin(registry, cert.fingerprint256);
  return { ...summarizeCertificate(cert), daysLeft: daysLeft(cert, now), pinned, unpinned: pinned === undefined };
}

/**
 * The anchor a client will use: CRITICAL when it carries a pinned certificate's name with another
 * fingerprint (whichever store holds it); WARNING when pgcerts' own bundle for a provider-wide
 * trust verifies the chain through a CA the registry does not pin (per-account CAs cannot be pinned).
 */
function checkAnchor(path: X509Certificate[], bundle: BundleVerdict | undefined, registry: Registry, where: string): ProbeProblem[] {
  const anchor = path.length > 1 ? path[path.length - 1] : undefined;
  if (!anchor || findPin(registry, anchor.fingerprint256)) return [];
  const summary = summarizeCertificate(anchor, { verifySignature: false });
  const label = `"${commonName(summary.subject)}" (SHA-256 ${summary.sha256})`;
  const lookalike = findLookalikePin(registry.providers, summary.subject, summary.sha256);
  if (lookalike) {
    return [failure('lookalike', 'CRITICAL', `The chain of ${where} ends at ${label}, which carries the name of pinned "${commonName(lookalike.pin.subject)}" (${lookalike.provider.id}, SHA-256 ${lookalike.pin.sha256}) but another fingerprint: a forgery or lookalike, so someone may be intercepting the connection. Do not connect; fetch the provider's bundle again (\`pgcerts fetch ${lookalike.provider.id} --force\`).`)];
  }
  if (bundle?.source !== 'registry' || bundle.provider === undefined) return [];
  const trust = registry.findProvider(bundle.provider)?.trust.find((t) => t.id === bundle.trust);
  if (!trust || trust.kind === 'account' || trust.kind === 'none') return [];
  return [failure('unpinned', 'WARNING', `The chain of ${where} verifies against the ${bundle.provider} bundle through ${label}, which the registry does not pin (unpinned: accepted only by the registry's constraints or an import), so nothing but its shape vouches for it. Compare its SHA-256 with the provider's documentation, and update pgcerts (${UPDATE_HOW}) for a registry that pins it.`)];
}

/** Expired, not yet valid and expiring certificates on the chain clients will use. */
function checkExpiry(path: X509Certificate[], now: Date, warnDays: number, criticalDays: number): ProbeProblem[] {
  const problems: ProbeProblem[] = [];
  path.forEach((cert, index) => {
    const role = index === 0 ? 'the server certificate' : index === path.length - 1 ? `the anchor "${commonName(summarizeCertificate(cert).subject)}"` : `the intermediate "${commonName(summarizeCertificate(cert).subject)}"`;
    const role1 = role.charAt(0).toUpperCase() + role.slice(1);
    const notAfter = new Date(cert.validTo).toISOString();
    const days = daysLeft(cert, now);
    if (Date.parse(cert.validTo) <= now.getTime()) {
      problems.push({ code: 'expired', status: 'CRITICAL', message: `${role1} expired on ${notAfter} (${-days} days ago). ${index === 0 ? 'Renew it on the server.' : 'Replace it: fetch the current bundle.'}` });
    } else if (Date.parse(cert.validFrom) > now.getTime()) {
      problems.push({ code: 'not-yet-valid', status: 'CRITICAL', message: `${role1} is not valid before ${new Date(cert.validFrom).toISOString()}. Check the server's and this machine's clocks.` });
    } else if (days < criticalDays || days < warnDays) {
      problems.push({ code: 'expires-soon', status: days < criticalDays ? 'CRITICAL' : 'WARNING', message: `${role1} expires in ${days} days (${notAfter}). ${index === 0 ? 'Renew it on the server.' : 'Plan the rotation: see `pgcerts show` for the successor.'}` });
    }
  });
  return problems;
}

const EMPTY_ANCHORS = createAnchorSet([]);

interface ResolvedBundle {
  source: 'registry' | 'sslrootcert';
  file: string | undefined;
  anchors: AnchorSet;
  provider: string | undefined;
  trust: string | undefined;
  sslmode: SslMode | undefined;
  warnings: string[];
  /** Why there is no bundle. */
  error: string | undefined;
}

/**
 * The registry's bundle for the host (or for `forced`, when the host name does not name it).
 * Failures to get one are part of the verdict, not exceptions.
 */
async function resolveBundle(host: string, forced: Provider | undefined, options: ResolveOptions & { registry: Registry }): Promise<ResolvedBundle> {
  const empty = { source: 'registry' as const, file: undefined, anchors: EMPTY_ANCHORS, provider: forced?.id, trust: undefined, sslmode: undefined, warnings: [] };
  const found = lookupHost({ host }, { registry: options.registry });
  try {
    let resolved: { path: string; provider: string; trust: string; sslmode: SslMode; warnings: string[] };
    if (found.match && (!forced || found.match.provider === forced.id)) {
      resolved = await getSslRootCertCached(host, options);
    } else if (forced) {
      resolved = await resolveForProvider(forced, host, options);
    } else {
      return { ...empty, error: found.hint ?? 'No provider claims this host.' };
    }
    const anchors = readAnchorFile(resolved.path, (path) => parseCertificates(readFileSync(path), { name: path }));
    return { ...empty, file: resolved.path, anchors, provider: resolved.provider, trust: resolved.trust, sslmode: resolved.sslmode, warnings: resolved.warnings, error: undefined };
  } catch (error) {
    if (!(error instanceof PgcertsError)) throw error;
    return { ...empty, error: error.message };
  }
}

/** A provider's bundle regardless of the host name, chosen as `sslrootcert` chooses it (cache first: no download per probe). */
async function resolveForProvider(provider: Provider, host: string, options: ResolveOptions & { registry: Registry }): Promise<{ path: string; provider: string; trust: string; sslmode: SslMode; warnings: string[] }> {
  return getSslRootCertForProvider(provider.id, host, options);
}

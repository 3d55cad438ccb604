import { domainToASCII } from 'node:url';

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
// Characters outside printable ASCII: the host may be an internationalised name.
const NON_ASCII = /[^\x21-\x7e]/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** What {@link normalizeHost} makes of a host. */
export type NormalizedHost =
  | { type: 'name'; host: string }
  | { type: 'ip'; host: string; version: 4 | 6 }
  | { type: 'invalid'; host: string; reason: string };

/** The canonical IPv6 form, or `undefined` when the text is not an IPv6 address. */
function parseIpv6(text: string): string | undefined {
  if (!text.includes(':') || /[^0-9a-fA-F:.]/.test(text)) return undefined;
  try {
    // The WHATWG URL parser validates and canonicalises IPv6 literals; it ships with Node's core.
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

const PLAIN = 1;
const PLAIN_UPPER = 2;

/** Character kinds of a host name, as bits; a label's mask is the union over its characters. */
export const CHAR_DIGIT = 1;
export const CHAR_HEX_LETTER = 2;
export const CHAR_OTHER_LETTER = 4;
export const CHAR_HYPHEN = 8;
export const CHAR_UNDERSCORE = 16;
const CHAR_UPPER = 32;
const CHAR_INVALID = 64;
// Indexed by any UTF-16 code unit, so a scan needs no range check: 64 KiB, built once.
export const CHAR_BITS = new Uint8Array(65536).fill(CHAR_INVALID);
for (let c = 48; c <= 57; c++) CHAR_BITS[c] = CHAR_DIGIT;
for (let c = 97; c <= 122; c++) CHAR_BITS[c] = c <= 102 ? CHAR_HEX_LETTER : CHAR_OTHER_LETTER;
for (let c = 65; c <= 90; c++) CHAR_BITS[c] = (CHAR_BITS[c + 32] as number) | CHAR_UPPER;
CHAR_BITS[45] = CHAR_HYPHEN;
CHAR_BITS[95] = CHAR_UNDERSCORE;

/** Bits of {@link CHAR_BITS} that mark a character no label may hold, or an upper-case letter. */
export const CHAR_NOT_NORMAL = CHAR_INVALID | CHAR_UPPER;

/**
 * Whether `host[start, end)`, whose characters' kinds are `mask`, is a label of a valid name:
 * 1 to 63 characters, no hyphen at either end (its characters are checked through `mask`).
 */
export function isLabelShape(host: string, start: number, end: number, mask: number): boolean {
  const size = end - start;
  if (size === 0 || size > 63) return false;
  return (mask & CHAR_HYPHEN) === 0 || (host.charCodeAt(start) !== 45 && host.charCodeAt(end - 1) !== 45);
}

const MAX_LABELS = 128;

/**
 * The labels last read by {@link readLabels}, left to right. Reading is synchronous, so one set of
 * arrays serves every call; a caller uses them before it reads another host.
 */
export const labels = {
  count: 0,
  starts: new Int32Array(MAX_LABELS),
  ends: new Int32Array(MAX_LABELS),
  /** The union of {@link CHAR_BITS} over each label's characters. */
  masks: new Int32Array(MAX_LABELS),
};

/**
 * Read `host[0, end)` (at most 253 characters) label by label into {@link labels}, checking each
 * label's length and hyphens. Returns the union of the labels' character kinds, or -1 when a label
 * has a bad shape; the caller decides which kinds it accepts.
 */
export function readLabels(host: string, end: number): number {
  // A local copy: an imported binding is read through its module on every use.
  const bits = CHAR_BITS;
  let all = 0;
  let mask = 0;
  let start = 0;
  labels.count = 0;
  for (let i = 0; i < end; i++) {
    const c = host.charCodeAt(i);
    if (c !== 46) {
      mask |= bits[c] as number;
      continue;
    }
    if (!addLabel(host, start, i, mask)) return -1;
    all |= mask;
    start = i + 1;
    mask = 0;
  }
  return addLabel(host, start, end, mask) ? all | mask : -1;
}

/** Check one label's shape and append it to {@link labels}. */
function addLabel(host: string, start: number, end: number, mask: number): boolean {
  if (!isLabelShape(host, start, end, mask)) return false;
  const index = labels.count++;
  labels.starts[index] = start;
  labels.ends[index] = end;
  labels.masks[index] = mask;
  return true;
}

/**
 * Check an ASCII name in one pass: label characters and lengths, total length, no numeric last
 * label. Returns PLAIN (already normal), PLAIN_UPPER (normal once lower-cased) or 0 for anything
 * the general path must look at.
 */
function checkPlainName(host: string): number {
  const length = host.length;
  if (length === 0 || length > 253) return 0;
  const all = readLabels(host, length);
  if (all < 0 || (all & CHAR_INVALID) !== 0) return 0;
  // An all-digit last label: an address, or a broken one.
  if (labels.masks[labels.count - 1] === CHAR_DIGIT) return 0;
  return (all & CHAR_UPPER) !== 0 ? PLAIN_UPPER : PLAIN;
}

/**
 * Normalise a host as DNS compares it: trim, strip IPv6 brackets and one trailing dot, lower
 * case, internationalised names to their ASCII (punycode) form. Never throws.
 */
export function normalizeHost(input: string): NormalizedHost {
  // Fast path: a valid ASCII name, perhaps in upper case or with the root's trailing dot.
  const bare = input.charCodeAt(input.length - 1) === 46 ? input.slice(0, -1) : input;
  const plain = checkPlainName(bare);
  if (plain !== 0) return { type: 'name', host: plain === PLAIN ? bare : bare.toLowerCase() };
  let host = input.trim();
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (IPV4.test(host)) return { type: 'ip', host, version: 4 };
  const ipv6 = parseIpv6(host);
  if (ipv6 !== undefined) return { type: 'ip', host: ipv6, version: 6 };
  if (host.endsWith('.') && !host.endsWith('..')) host = host.slice(0, -1);
  if (host === '') return { type: 'invalid', host: input, reason: 'it is empty' };
  if (NON_ASCII.test(host)) {
    const ascii = /\s/.test(host) ? '' : domainToASCII(host);
    if (ascii === '') return { type: 'invalid', host: input, reason: 'it is not a valid internationalised domain name' };
    host = ascii;
  }
  host = host.toLowerCase();
  if (checkPlainName(host) === PLAIN) return { type: 'name', host };
  if (host.length > 253) return { type: 'invalid', host: input, reason: 'it is longer than 253 characters' };
  const labels = host.split('.');
  for (const label of labels) {
    if (!LABEL.test(label)) {
      return { type: 'invalid', host: input, reason: label === '' ? 'it has an empty label' : `label "${label}" is not a valid DNS label` };
    }
  }
  // Every label is valid, so the last one is all digits: a broken address such as 300.1.1.1.
  return { type: 'invalid', host: input, reason: 'it looks like an IP address but is not a valid one' };
}

import { domainToASCII } from 'node:url';
import type { HostRule, Provider } from './registry-types.js';

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

/**
 * Check an ASCII name in one pass: label characters and lengths, total length, no numeric last
 * label. Returns PLAIN (already normal), PLAIN_UPPER (normal once lower-cased) or 0 for
 * anything the general path must look at.
 */
function checkPlainName(host: string): number {
  const length = host.length;
  if (length === 0 || length > 253) return 0;
  let result = PLAIN;
  let labelStart = 0;
  let digitsOnly = true;
  for (let i = 0; i <= length; i++) {
    const c = i === length ? 46 : host.charCodeAt(i);
    if (c === 46) {
      const labelLength = i - labelStart;
      if (labelLength === 0 || labelLength > 63) return 0;
      if (host.charCodeAt(labelStart) === 45 || host.charCodeAt(i - 1) === 45) return 0;
      labelStart = i + 1;
      if (i === length && digitsOnly) return 0;
      digitsOnly = true;
    } else if (c >= 48 && c <= 57) {
      // digit
    } else if ((c >= 97 && c <= 122) || c === 45 || c === 95) {
      digitsOnly = false;
    } else if (c >= 65 && c <= 90) {
      digitsOnly = false;
      result = PLAIN_UPPER;
    } else {
      return 0;
    }
  }
  return result;
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

/** A successful match of a normalised host against the registry's host rules. */
export interface RuleMatch {
  provider: Provider;
  rule: HostRule;
  /** The pattern's `region` capture. */
  region: string | undefined;
  /** The pattern's other named captures. */
  captures: Record<string, string>;
}

interface CompiledRule {
  provider: Provider;
  rule: HostRule;
  /** The rule's pattern with named groups turned into numbered ones (no groups object to build). */
  regex: RegExp | undefined;
  /** Capture name for each group number, undefined for unnamed groups. */
  names: Array<string | undefined>;
}

/** One node per suffix label, walked from the top-level label down. */
interface SuffixNode {
  /** The label this node stands for. */
  label: string;
  /** Children by {@link hashLabel} of their label (no string is sliced while matching). */
  children: Map<number, SuffixNode>;
  /** Rules whose suffix ends at this node, by descending priority. */
  rules: CompiledRule[];
  /**
   * The node's rules as one anchored alternation, without captures except one group per rule
   * that marks which alternative matched. When every rule's pattern starts with a pattern for the
   * first label, the label is matched once up front (`[^.]+\.`) and only the rest alternates; the
   * winner is then confirmed with its own pattern.
   */
  combined: RegExp | undefined;
}

const newNode = (label: string): SuffixNode => ({ label, children: new Map(), rules: [], combined: undefined });

/** Whether `host[start, end)` is `label` (a loop beats `startsWith` with a position here). */
function labelAt(host: string, start: number, end: number, label: string): boolean {
  if (end - start !== label.length) return false;
  for (let i = 0; i < label.length; i++) if (host.charCodeAt(start + i) !== label.charCodeAt(i)) return false;
  return true;
}

/**
 * A cheap hash of `text[from, to)`, taken from the last character back (the order the matcher
 * reads a host in); equal labels hash equally, and callers compare the text on a hit.
 */
function hashLabel(text: string, from: number, to: number): number {
  let hash = 0;
  for (let i = to - 1; i >= from; i--) hash = (Math.imul(hash, 31) + text.charCodeAt(i)) | 0;
  return hash;
}

/**
 * Split an anchored rule pattern into an optional first-label part and the rest, both without
 * anchors or captures. The first-label part is split off only when it provably matches no dot:
 * character classes without a dot, letters, digits, hyphens, non-capturing groups, quantifiers.
 */
function splitPattern(pattern: string): { label: string | undefined; rest: string } {
  const body = pattern.slice(1, -1);
  let out = '';
  let inClass = false;
  let depth = 0;
  let dotFree = true;
  for (let i = 0; i < body.length; i++) {
    const c = body[i] as string;
    if (c === '\\') {
      const next = body[i + 1] ?? '';
      if (!inClass && depth === 0 && next === '.' && dotFree && out !== '') {
        return { label: out, rest: body.slice(i + 2).replace(/\(\?<(?![=!])[^>]*>/g, '(?:') };
      }
      if (next !== 'd' && next !== '-') dotFree = false;
      out += c + next;
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
      else if (c === '.') dotFree = false;
      out += c;
    } else if (c === '[') {
      inClass = true;
      if (body[i + 1] === '^') dotFree = false;
      out += c;
    } else if (c === '(') {
      depth++;
      if (body.startsWith('?<', i + 1) && body[i + 3] !== '=' && body[i + 3] !== '!') {
        out += '(?:';
        i = body.indexOf('>', i);
      } else if (body.startsWith('?:', i + 1)) {
        out += '(?:';
        i += 2;
      } else {
        out += '(?:';
        if (body[i + 1] === '?') dotFree = false;
      }
    } else {
      if (c === ')') depth--;
      else if (!/[a-z0-9?*+{},-]/.test(c)) dotFree = false;
      out += c;
    }
  }
  return { label: undefined, rest: out };
}

/** The pattern with each named group made a plain numbered group, and the names by number. */
function numberGroups(pattern: string): { source: string; names: Array<string | undefined> } {
  const names: Array<string | undefined> = [];
  let source = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '\\') {
      source += c + (pattern[i + 1] ?? '');
      i++;
      continue;
    }
    if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (c === '(' && pattern.startsWith('?<', i + 1) && pattern[i + 3] !== '=' && pattern[i + 3] !== '!') {
      const close = pattern.indexOf('>', i);
      names.push(pattern.slice(i + 3, close));
      source += '(';
      i = close;
      continue;
    } else if (c === '(' && pattern[i + 1] !== '?') names.push(undefined);
    source += c;
  }
  return { source, names };
}

/**
 * Host rules in a trie of suffix labels. Matching walks the host's labels from the right, then
 * tries the deepest (most specific) suffix first; rules sharing a suffix go by descending
 * priority, decided in one regular-expression run, and only the winner's captures are read.
 */
export class HostMatcher {
  private readonly root = newNode('');

  constructor(providers: readonly Provider[]) {
    for (const provider of providers) {
      for (const rule of provider.hosts) {
        let node = this.root;
        for (const label of rule.suffix.split('.').reverse()) {
          const hash = hashLabel(label, 0, label.length);
          let child = node.children.get(hash);
          if (child && child.label !== label) throw new Error(`hash collision between suffix labels "${label}" and "${child.label}"`);
          if (!child) node.children.set(hash, (child = newNode(label)));
          node = child;
        }
        node.rules.push({ provider, rule, regex: undefined, names: [] });
      }
    }
  }

  /**
   * Compile a node's patterns on first use: a lookup touches one or two nodes, and compiling all
   * of them would cost every CLI start.
   */
  private prepare(node: SuffixNode): RegExp {
    if (node.combined) return node.combined;
    for (const compiled of node.rules) {
      if (compiled.rule.pattern === undefined) continue;
      const numbered = numberGroups(compiled.rule.pattern);
      compiled.regex = new RegExp(numbered.source);
      compiled.names = numbered.names;
    }
    // Higher priority first; a rule with a pattern before a bare suffix rule of equal priority.
    node.rules.sort((a, b) => b.rule.priority - a.rule.priority || Number(b.regex !== undefined) - Number(a.regex !== undefined));
    const parts = node.rules.map((r) => (r.rule.pattern === undefined ? undefined : splitPattern(r.rule.pattern)));
    if (parts.every((p) => p?.label !== undefined)) {
      node.combined = new RegExp(`^[^.]+\\.(?:${parts.map((p) => `(${p?.rest})`).join('|')})$`);
    } else {
      // A bare suffix rule accepts any host that reached this node.
      const whole = parts.map((p) => `(${p === undefined ? '[^]*' : p.label === undefined ? p.rest : `${p.label}\\.${p.rest}`})`);
      node.combined = new RegExp(`^(?:${whole.join('|')})$`);
    }
    return node.combined;
  }

  /** Match a host already normalised by {@link normalizeHost}. */
  match(host: string): RuleMatch | undefined {
    const candidates: SuffixNode[] = [];
    let node = this.root;
    let end = host.length;
    let hash = 0;
    // Read the host from its end, hashing each label; stop before the leftmost label, since a
    // suffix rule needs at least one label in front of it.
    for (let i = end - 1; i > 0; i--) {
      const c = host.charCodeAt(i);
      if (c !== 46) {
        hash = (Math.imul(hash, 31) + c) | 0;
        continue;
      }
      const start = i + 1;
      const child = node.children.get(hash);
      // A different label with the same hash: compare the text itself.
      if (!child || !labelAt(host, start, end, child.label)) break;
      if (child.rules.length > 0) candidates.push(child);
      node = child;
      end = i;
      hash = 0;
    }
    for (let i = candidates.length - 1; i >= 0; i--) {
      const node = candidates[i] as SuffixNode;
      const m = this.prepare(node).exec(host);
      const rules = node.rules;
      if (!m) continue;
      let first = 0;
      while (m[first + 1] === undefined) first++;
      // Rules before `first` cannot match; confirm the winner (its first-label part was not
      // checked by the combined pattern) and go on down the list if it fails.
      for (let r = first; r < rules.length; r++) {
        const { provider, rule, regex, names } = rules[r] as CompiledRule;
        if (regex === undefined) return { provider, rule, region: undefined, captures: {} };
        const groups = regex.exec(host);
        if (groups === null) continue;
        let region: string | undefined;
        const captures: Record<string, string> = {};
        for (let g = 0; g < names.length; g++) {
          const name = names[g];
          const value = groups[g + 1];
          if (name === undefined || value === undefined) continue;
          if (name === 'region') region = value;
          else captures[name] = value;
        }
        return { provider, rule, region, captures };
      }
    }
    return undefined;
  }
}

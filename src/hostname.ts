import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import type { HostRule, Provider } from './registry-types.js';

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
// Characters outside printable ASCII: the host may be an internationalised name.
const NON_ASCII = /[^\x21-\x7e]/;

/** What {@link normalizeHost} makes of a host. */
export type NormalizedHost =
  | { type: 'name'; host: string }
  | { type: 'ip'; host: string; version: 4 | 6 }
  | { type: 'invalid'; host: string; reason: string };

/**
 * Normalise a host as DNS compares it: trim, strip IPv6 brackets and one trailing dot, lower
 * case, internationalised names to their ASCII (punycode) form. Never throws.
 */
export function normalizeHost(input: string): NormalizedHost {
  let host = input.trim();
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const ipVersion = isIP(host);
  if (ipVersion === 4 || ipVersion === 6) return { type: 'ip', host: host.toLowerCase(), version: ipVersion };
  if (host.endsWith('.') && !host.endsWith('..')) host = host.slice(0, -1);
  if (host === '') return { type: 'invalid', host: input, reason: 'it is empty' };
  if (NON_ASCII.test(host)) {
    const ascii = /\s/.test(host) ? '' : domainToASCII(host);
    if (ascii === '') return { type: 'invalid', host: input, reason: 'it is not a valid internationalised domain name' };
    host = ascii;
  }
  host = host.toLowerCase();
  if (host.length > 253) return { type: 'invalid', host: input, reason: 'it is longer than 253 characters' };
  const labels = host.split('.');
  for (const label of labels) {
    if (!LABEL.test(label)) {
      return { type: 'invalid', host: input, reason: label === '' ? 'it has an empty label' : `label "${label}" is not a valid DNS label` };
    }
  }
  // A dotted all-numeric name that isIP rejected (e.g. 300.1.1.1) is a broken address, not a name.
  if (labels.every((label) => /^\d+$/.test(label)) || /^\d+$/.test(labels[labels.length - 1] as string)) {
    return { type: 'invalid', host: input, reason: 'it looks like an IP address but is not a valid one' };
  }
  return { type: 'name', host };
}

/** A host rule compiled for matching. */
export interface CompiledRule {
  provider: Provider;
  rule: HostRule;
  regex: RegExp | undefined;
}

/** A successful match of a normalised host against the registry's host rules. */
export interface RuleMatch {
  provider: Provider;
  rule: HostRule;
  /** Named captures of the rule's pattern (e.g. `region`). */
  captures: Record<string, string>;
}

/**
 * Host rules indexed by suffix. Matching walks the host's suffixes from the longest down, so a
 * more specific suffix always wins; rules sharing a suffix are tried by descending priority.
 */
export class HostMatcher {
  private readonly bySuffix = new Map<string, CompiledRule[]>();
  private readonly lastLabels = new Set<string>();
  private maxLabels = 0;

  constructor(providers: readonly Provider[]) {
    for (const provider of providers) {
      for (const rule of provider.hosts) {
        const list = this.bySuffix.get(rule.suffix) ?? [];
        list.push({ provider, rule, regex: rule.pattern === undefined ? undefined : new RegExp(rule.pattern) });
        this.bySuffix.set(rule.suffix, list);
        const labels = rule.suffix.split('.');
        this.maxLabels = Math.max(this.maxLabels, labels.length);
        this.lastLabels.add(labels[labels.length - 1] as string);
      }
    }
    for (const list of this.bySuffix.values()) {
      // Higher priority first; a rule with a pattern before a bare suffix rule of equal priority.
      list.sort((a, b) => b.rule.priority - a.rule.priority || Number(b.regex !== undefined) - Number(a.regex !== undefined));
    }
  }

  /** Match a host already normalised by {@link normalizeHost}. */
  match(host: string): RuleMatch | undefined {
    const lastDot = host.lastIndexOf('.');
    if (lastDot < 0 || !this.lastLabels.has(host.slice(lastDot + 1))) return undefined;
    // Dots from the right; suffix candidates start after each one, longest first.
    const dots: number[] = [];
    for (let i = lastDot; i >= 0 && dots.length < this.maxLabels; i = host.lastIndexOf('.', i - 1)) dots.push(i);
    for (let d = dots.length - 1; d >= 0; d--) {
      const rules = this.bySuffix.get(host.slice((dots[d] as number) + 1));
      if (!rules) continue;
      for (const compiled of rules) {
        if (compiled.regex === undefined) return { provider: compiled.provider, rule: compiled.rule, captures: {} };
        const m = compiled.regex.exec(host);
        if (m) return { provider: compiled.provider, rule: compiled.rule, captures: { ...m.groups } };
      }
    }
    return undefined;
  }
}

import {
  CHAR_BITS, CHAR_DIGIT, CHAR_HEX_LETTER, CHAR_HYPHEN, CHAR_NOT_NORMAL, CHAR_OTHER_LETTER, CHAR_UNDERSCORE, labels, readLabels,
} from './hostname.js';
import { numberGroups, readHostPattern, type CharSet, type LabelTemplate } from './host-pattern.js';
import type { HostRule, Provider } from './registry-types.js';

/** A successful match of a normalised host against the registry's host rules. */
export interface RuleMatch {
  provider: Provider;
  rule: HostRule;
  /** The pattern's `region` capture. */
  region: string | undefined;
  /** The pattern's other named captures. */
  captures: Record<string, string>;
}

const LITERAL = 0;
const LITERALS = 1;
const RUN = 2;
const REGEX = 3;

/**
 * How to check and read one label. Every check has all these fields, so the matcher's property
 * reads see one object shape; `kind` says which fields count.
 */
interface LabelCheck {
  kind: typeof LITERAL | typeof LITERALS | typeof RUN | typeof REGEX;
  /** Position of the label in front of the suffix, 0 for the leftmost. */
  position: number;
  /** LITERAL: the label; RUN and REGEX: the text it must start with. */
  prefix: string;
  /** LITERALS: the labels accepted. */
  texts: string[];
  /** RUN: the text it must end with. */
  suffix: string;
  /** RUN: the run's characters and length. */
  set: CharSet;
  min: number;
  max: number;
  /** RUN: the run's first and last character must be in `edge` (when `hasEdge`). */
  edge: CharSet;
  hasEdge: boolean;
  /** RUN: character-kind bits of `set` when the whole label is the run (see {@link kindMask}), else -1. */
  allowed: number;
  /** REGEX: the label's expression, shared by every check with the same one. */
  tester: Tester | undefined;
  /** The capture taken from this label: `host.slice(start + captureFrom, end - captureTo)`. */
  captureName: string | undefined;
  captureFrom: number;
  captureTo: number;
  /** REGEX with captures inside the label: a sticky expression with numbered groups, and their names. */
  captureRegex: RegExp | undefined;
  captureNames: Array<string | undefined>;
}

/**
 * A sticky expression for one label, with its trailing dot, and its last answer: rules that share
 * a label pattern (a region, say) are tried one after another on the same host.
 */
interface Tester {
  regex: RegExp;
  host: string;
  start: number;
  result: boolean;
}

const testers = new Map<string, Tester>();

function getTester(source: string): Tester {
  let tester = testers.get(source);
  if (!tester) testers.set(source, (tester = { regex: new RegExp(`(?:${source})\\.`, 'y'), host: '', start: -1, result: false }));
  return tester;
}

interface Captured {
  region: string | undefined;
  captures: Record<string, string>;
}

/** One shape of host a rule accepts: this many labels in front of its suffix, each checked. */
interface Shape {
  labels: number;
  /** The checks, cheapest and most selective first. */
  checks: LabelCheck[];
  /** The checks that capture, left to right (so names keep the pattern's order). */
  captures: LabelCheck[];
}

/** One way a host can match a rule: one of its shapes, its whole pattern, or its bare suffix. */
interface Entry {
  provider: Provider;
  rule: HostRule;
  /** Set for a shape read label by label. */
  shape: Shape | undefined;
  /** Set for a pattern that could not be read label by label: the whole of it, numbered groups. */
  regex: RegExp | undefined;
  names: Array<string | undefined>;
}

/**
 * The entries that can match hosts with a given number of labels in front of the suffix, in
 * priority order, split by the first character of the label at `position` (the position that
 * splits them best), so a host meets only the entries its labels could fit.
 */
interface Dispatch {
  /** -1 when the entries are not split. */
  position: number;
  /** By character code of that label's first character; with position -1, index 0 holds all. */
  buckets: Array<Entry[] | undefined>;
}

interface NodePlan {
  /** By the number of labels in front of the suffix. */
  byCount: Array<Dispatch | undefined>;
  /** For other counts: the entries that take any number of labels (bare suffix, whole pattern). */
  anyCount: Dispatch;
}

/** One node per suffix label, walked from the top-level label down. */
interface SuffixNode {
  label: string;
  /** Children by the character code (below 128) their label ends with. */
  children: Array<SuffixNode[] | undefined>;
  /** Rules whose suffix ends at this node. */
  rules: HostRule[];
  providers: Provider[];
  /** The rules compiled for repeated use, once the node has been matched against often enough. */
  plan: NodePlan | undefined;
  /** Matches tried at this node before it got a plan. */
  tries: number;
  /** Until then: the rules by descending priority, each with its whole pattern (see {@link HostMatcher.match}). */
  simple: Entry[] | undefined;
}

/** Whether `host` has `text` at `at` (a loop beats `startsWith` with a position here). */
function textAt(host: string, at: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) if (host.charCodeAt(at + i) !== text.charCodeAt(i)) return false;
  return true;
}

const KIND_BITS = CHAR_DIGIT | CHAR_HEX_LETTER | CHAR_OTHER_LETTER | CHAR_HYPHEN | CHAR_UNDERSCORE;
const LABEL_CHARS = [...'0123456789abcdefghijklmnopqrstuvwxyz-_'].map((c) => c.charCodeAt(0));

/**
 * The character-kind bits whose characters are exactly the label characters of `set`, or -1 when
 * `set` takes only part of a kind (say `[a-m]`) and each character must be looked up.
 */
function kindMask(set: CharSet): number {
  let mask = 0;
  for (const code of LABEL_CHARS) if (set[code] === 1) mask |= CHAR_BITS[code] as number;
  for (const code of LABEL_CHARS) if ((set[code] === 1) !== (((CHAR_BITS[code] as number) & mask) !== 0)) return -1;
  return mask;
}

const NO_SET: CharSet = new Uint8Array(128);

function compileCheck(template: LabelTemplate, position: number): LabelCheck & { cost: number } {
  const check = {
    kind: LITERAL as LabelCheck['kind'], position, prefix: '', texts: [] as string[], suffix: '', set: NO_SET, min: 0, max: 0,
    edge: NO_SET, hasEdge: false, allowed: -1, tester: undefined as Tester | undefined, captureName: undefined as string | undefined,
    captureFrom: 0, captureTo: 0, captureRegex: undefined as RegExp | undefined, captureNames: [] as Array<string | undefined>, cost: 0,
  };
  if (template.kind === 'literal') {
    check.captureName = template.capture;
    if (template.texts.length === 1) {
      check.prefix = template.texts[0] as string;
    } else {
      check.kind = LITERALS;
      check.texts = template.texts;
      check.cost = 1;
    }
    return check;
  }
  if (template.kind === 'run') {
    const { prefix, suffix, run } = template;
    Object.assign(check, { kind: RUN, prefix, suffix, set: run.set, min: Math.min(run.min, 64), max: Math.min(run.max, 64), edge: run.edge ?? NO_SET, hasEdge: run.edge !== undefined });
    if (prefix === '' && suffix === '') check.allowed = kindMask(run.set);
    check.cost = prefix !== '' || suffix !== '' ? 1 : 2;
    if (template.wholeCapture !== undefined) check.captureName = template.wholeCapture;
    else if (template.capture !== undefined) Object.assign(check, { captureName: template.capture, captureFrom: prefix.length, captureTo: suffix.length });
    return check;
  }
  // Sticky, and followed by the dot that ends the label: the label's part cannot consume a dot,
  // so a match at `start` ends exactly at the label's end.
  const numbered = numberGroups(template.source);
  Object.assign(check, { kind: REGEX, prefix: template.prefix, tester: getTester(numbered.source), cost: 3 });
  if (template.wholeCapture !== undefined) check.captureName = template.wholeCapture;
  else if (template.hasCaptures) Object.assign(check, { captureRegex: new RegExp(numbered.source, 'y'), captureNames: numbered.names });
  return check;
}

/**
 * The cheap part of a check on `host[start, end)`: lengths and literal text, which is where most
 * rules part ways with a host.
 */
function quickCheck(check: LabelCheck, host: string, start: number, end: number): boolean {
  switch (check.kind) {
    case LITERAL:
      return end - start === check.prefix.length && textAt(host, start, check.prefix);
    case LITERALS:
      for (const text of check.texts) if (end - start === text.length && textAt(host, start, text)) return true;
      return false;
    case RUN: {
      const size = end - start - check.prefix.length - check.suffix.length;
      if (size < check.min || size > check.max) return false;
      return textAt(host, start, check.prefix) && textAt(host, end - check.suffix.length, check.suffix);
    }
    default:
      return textAt(host, start, check.prefix);
  }
}

/** The rest of a check, once {@link quickCheck} has passed; `mask` is the label's character kinds. */
function fullCheck(check: LabelCheck, host: string, start: number, end: number, mask: number): boolean {
  if (check.kind === RUN) {
    const from = start + check.prefix.length;
    const to = end - check.suffix.length;
    if (check.hasEdge && (check.edge[host.charCodeAt(from)] !== 1 || check.edge[host.charCodeAt(to - 1)] !== 1)) return false;
    if (check.allowed >= 0) return (mask & ~check.allowed & KIND_BITS) === 0;
    const { set } = check;
    for (let i = from; i < to; i++) if (set[host.charCodeAt(i)] !== 1) return false;
    return true;
  }
  if (check.kind === REGEX) {
    const tester = check.tester as Tester;
    if (tester.host !== host || tester.start !== start) {
      tester.regex.lastIndex = start;
      tester.result = tester.regex.test(host);
      tester.host = host;
      tester.start = start;
    }
    return tester.result;
  }
  return true;
}

function store(into: Captured, name: string, value: string): void {
  if (name === 'region') into.region = value;
  else into.captures[name] = value;
}

function readLabel(check: LabelCheck, host: string, start: number, end: number, into: Captured): void {
  if (check.captureName !== undefined) {
    store(into, check.captureName, host.slice(start + check.captureFrom, end - check.captureTo));
    return;
  }
  const regex = check.captureRegex as RegExp;
  regex.lastIndex = start;
  const groups = regex.exec(host) as RegExpExecArray;
  const names = check.captureNames;
  for (let g = 0; g < names.length; g++) {
    const name = names[g];
    const value = groups[g + 1];
    if (name !== undefined && value !== undefined) store(into, name, value);
  }
}

function compileShape(templates: LabelTemplate[]): Shape {
  const checks = templates.map(compileCheck);
  return {
    labels: templates.length,
    checks: [...checks].sort((a, b) => a.cost - b.cost || a.position - b.position),
    captures: checks.filter((c) => c.captureName !== undefined || c.captureRegex !== undefined),
  };
}

/** The rule as one entry run whole: its pattern with numbered groups, or none for a bare suffix. */
function wholeEntry(provider: Provider, rule: HostRule): Entry {
  if (rule.pattern === undefined) return { provider, rule, shape: undefined, regex: undefined, names: [] };
  const { source, names } = numberGroups(rule.pattern);
  return { provider, rule, shape: undefined, regex: new RegExp(source), names };
}

/** The rule as one entry per shape it reads into, or run whole when its pattern cannot be read. */
function compileEntries(provider: Provider, rule: HostRule): Entry[] {
  const variants = rule.pattern === undefined ? undefined : readHostPattern(rule.pattern, rule.suffix);
  if (!variants) return [wholeEntry(provider, rule)];
  return variants.map((templates) => ({ provider, rule, shape: compileShape(templates), regex: undefined, names: [] }));
}

const ALL_FIRST = LABEL_CHARS;

/** The character codes a label checked by `check` can start with (a superset is fine). */
function firstChars(check: LabelCheck | undefined): readonly number[] {
  if (check === undefined) return ALL_FIRST;
  switch (check.kind) {
    case LITERAL: return [check.prefix.charCodeAt(0)];
    case LITERALS: return check.texts.map((t) => t.charCodeAt(0));
    case RUN:
      if (check.prefix !== '') return [check.prefix.charCodeAt(0)];
      if (check.min === 0) return ALL_FIRST;
      return LABEL_CHARS.filter((c) => check.set[c] === 1 && (!check.hasEdge || check.edge[c] === 1));
    default:
      return check.prefix !== '' ? [check.prefix.charCodeAt(0)] : ALL_FIRST;
  }
}

/** Split `entries` (in priority order) by the first character of the label that splits them best. */
function planDispatch(entries: Entry[], count: number): Dispatch {
  let best: Dispatch = { position: -1, buckets: [entries] };
  let bestCost = entries.length * LABEL_CHARS.length;
  for (let position = 0; position < count; position++) {
    const buckets: Array<Entry[] | undefined> = [];
    for (const entry of entries) {
      const check = entry.shape?.checks.find((c) => c.position === position);
      for (const c of firstChars(check)) (buckets[c] ??= []).push(entry);
    }
    // The entries a host meets, summed over the characters it may start that label with.
    const cost = LABEL_CHARS.reduce((sum, c) => sum + (buckets[c]?.length ?? 0), 0);
    if (cost < bestCost) {
      best = { position, buckets };
      bestCost = cost;
    }
  }
  return best;
}

/** The node's rules with their providers, higher priority first, a pattern before a bare rule. */
function byPriority(node: SuffixNode): Array<{ provider: Provider; rule: HostRule }> {
  return node.rules
    .map((rule, i) => ({ provider: node.providers[i] as Provider, rule }))
    .sort((a, b) => b.rule.priority - a.rule.priority || Number(b.rule.pattern !== undefined) - Number(a.rule.pattern !== undefined));
}

/** Each rule as one entry with its whole pattern: cheap to build, for nodes matched only a few times. */
function simpleEntries(node: SuffixNode): Entry[] {
  return byPriority(node).map(({ provider, rule }) => wholeEntry(provider, rule));
}

function planNode(node: SuffixNode): NodePlan {
  const entries = byPriority(node).flatMap(({ provider, rule }) => compileEntries(provider, rule));
  const anyCount = entries.filter((e) => e.shape === undefined);
  const byCount: Array<Dispatch | undefined> = [];
  for (const count of new Set(entries.flatMap((e) => (e.shape ? [e.shape.labels] : [])))) {
    byCount[count] = planDispatch(entries.filter((e) => e.shape === undefined || e.shape.labels === count), count);
  }
  return { byCount, anyCount: { position: -1, buckets: [anyCount] } };
}

/** Whether the first `shape.labels` labels of {@link labels} fit the shape. */
function fits(shape: Shape, host: string): boolean {
  const { starts, ends, masks } = labels;
  const { checks } = shape;
  for (let k = 0; k < checks.length; k++) {
    const check = checks[k] as LabelCheck;
    if (!quickCheck(check, host, starts[check.position] as number, ends[check.position] as number)) return false;
  }
  for (let k = 0; k < checks.length; k++) {
    const check = checks[k] as LabelCheck;
    const label = check.position;
    if (!fullCheck(check, host, starts[label] as number, ends[label] as number, masks[label] as number)) return false;
  }
  return true;
}

function readCaptures(shape: Shape, host: string): Captured {
  const into: Captured = { region: undefined, captures: {} };
  for (const check of shape.captures) {
    readLabel(check, host, labels.starts[check.position] as number, labels.ends[check.position] as number, into);
  }
  return into;
}

function readRegex(entry: Entry, host: string): Captured | undefined {
  const groups = (entry.regex as RegExp).exec(host);
  if (groups === null) return undefined;
  const into: Captured = { region: undefined, captures: {} };
  entry.names.forEach((name, g) => {
    const value = groups[g + 1];
    if (name !== undefined && value !== undefined) store(into, name, value);
  });
  return into;
}

const newNode = (label: string): SuffixNode => ({ label, children: [], rules: [], providers: [], plan: undefined, tries: 0, simple: undefined });

const SUFFIX_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

// Suffix nodes met on the way down, and where the host's part in front of each ends (its dot).
const candidateNodes: SuffixNode[] = [];
const candidateEnds: number[] = [];

/**
 * Host rules in a trie of suffix labels. Matching compares the host's end with the suffix labels,
 * reads the labels in front once (checking they are valid), then tries the deepest (most specific)
 * suffix first; rules sharing a suffix go by descending priority.
 *
 * A suffix's first matches run each rule's whole pattern. After `planAfter` of them its rules are
 * compiled: each pattern is read label by label where its syntax allows (see `host-pattern.ts`),
 * so most labels are checked by comparing characters and the rest by a regular expression at the
 * label's position, and the rules are indexed by the first character of their most telling label.
 * Both ways give the same answers; captures are read only from the winning rule.
 */
export class HostMatcher {
  private readonly root = newNode('');

  private add(providers: readonly Provider[]): void {
    for (const provider of providers) {
      for (const rule of provider.hosts) {
        let node = this.root;
        for (const label of rule.suffix.split('.').reverse()) {
          // The matcher trusts suffix labels to be valid: it checks only the labels in front.
          if (!SUFFIX_LABEL.test(label) || /^\d+$/.test(label)) throw new Error(`suffix label "${label}" of ${provider.id} is not a valid lower-case DNS label; fix the rule's suffix (letters, digits, hyphens, not all digits)`);
          const last = label.charCodeAt(label.length - 1);
          const siblings = (node.children[last] ??= []);
          let child = siblings.find((n) => n.label === label);
          if (!child) siblings.push((child = newNode(label)));
          node = child;
        }
        node.rules.push(rule);
        node.providers.push(provider);
      }
    }
  }

  private readonly planAfter: number;

  /**
   * @param options.planAfter How many times a suffix is matched against with each rule's whole
   *   pattern before its rules are compiled label by label. Compiling costs a few milliseconds,
   *   which a command that looks up one host should not pay; a process that looks up many does.
   * @throws Error when a suffix label is not a valid lower-case DNS label.
   */
  constructor(providers: readonly Provider[], options: { planAfter?: number } = {}) {
    this.planAfter = options.planAfter ?? 16;
    this.add(providers);
  }

  /**
   * Match a host normalised by `normalizeHost` (lower case, no trailing dot). Anything else,
   * including text that is not a valid host name, matches nothing.
   */
  match(host: string): RuleMatch | undefined {
    if (host.length > 253) return undefined;
    let found = 0;
    let node = this.root;
    let end = host.length;
    // Compare the host's end with the suffix labels, from the top-level label down.
    for (;;) {
      const last = host.charCodeAt(end - 1);
      const siblings = last < 128 ? node.children[last] : undefined;
      if (siblings === undefined) break;
      let next: SuffixNode | undefined;
      for (let n = 0; n < siblings.length; n++) {
        const child = siblings[n] as SuffixNode;
        const start = end - child.label.length;
        // The label must be whole (a dot before it) and have at least one character in front.
        if (start > 1 && host.charCodeAt(start - 1) === 46 && textAt(host, start, child.label)) {
          next = child;
          break;
        }
      }
      if (next === undefined) break;
      node = next;
      end -= next.label.length + 1;
      if (node.rules.length > 0) {
        candidateNodes[found] = node;
        candidateEnds[found] = end;
        found++;
      }
    }
    // Read the labels in front of the shortest suffix (those of the longer ones are among them);
    // they must be valid and lower case.
    if (found === 0) return undefined;
    const kinds = readLabels(host, candidateEnds[0] as number);
    if (kinds < 0 || (kinds & CHAR_NOT_NORMAL) !== 0) return undefined;
    for (let c = found - 1; c >= 0; c--) {
      const node = candidateNodes[c] as SuffixNode;
      const inFront = countLabelsBefore(candidateEnds[c] as number);
      let entries: Entry[] | undefined;
      if (node.plan === undefined && node.tries++ < this.planAfter) {
        entries = node.simple ??= simpleEntries(node);
      } else {
        const { byCount, anyCount } = (node.plan ??= planNode(node));
        const { position, buckets } = byCount[inFront] ?? anyCount;
        entries = buckets[position < 0 ? 0 : host.charCodeAt(labels.starts[position] as number)];
        if (entries === undefined) continue;
      }
      for (let e = 0; e < entries.length; e++) {
        const entry = entries[e] as Entry;
        const { provider, rule, shape } = entry;
        if (shape !== undefined) {
          if (shape.labels !== inFront || !fits(shape, host)) continue;
          const read = readCaptures(shape, host);
          return { provider, rule, region: read.region, captures: read.captures };
        }
        if (entry.regex === undefined) return { provider, rule, region: undefined, captures: {} };
        const read = readRegex(entry, host);
        if (read) return { provider, rule, region: read.region, captures: read.captures };
      }
    }
    return undefined;
  }
}

/** How many of {@link labels} end at or before `end`. */
function countLabelsBefore(end: number): number {
  let count = labels.count;
  while (count > 0 && (labels.ends[count - 1] as number) > end) count--;
  return count;
}

/** Whether every label of a rule's pattern is checked without running the whole pattern. */
export function isReadByLabel(rule: HostRule): boolean {
  return rule.pattern === undefined || readHostPattern(rule.pattern, rule.suffix) !== undefined;
}

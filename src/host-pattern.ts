/**
 * Reads a host rule's anchored regular expression as a list of per-label templates, so the
 * matcher can check most labels with a few character comparisons instead of running the whole
 * expression. Only a plain subset of regular-expression syntax is read; anything else makes the
 * rule fall back to its regular expression (same answers, slower).
 */

/** Thrown inside this module for syntax the label reader does not handle. */
class Unsupported extends Error {}

/** Membership of the 128 ASCII codes; host names are ASCII once normalised. */
export type CharSet = Uint8Array;

type Node =
  | { type: 'char'; code: number; from: number; to: number }
  | { type: 'class'; set: CharSet; from: number; to: number }
  | { type: 'group'; name: string | undefined; alternatives: Node[][]; from: number; to: number }
  | { type: 'repeat'; node: Node; min: number; max: number; from: number; to: number }
  | { type: 'look'; alternatives: Node[][]; from: number; to: number };

const DOT = 46;

function charSet(codes: Iterable<number>): CharSet {
  const set = new Uint8Array(128);
  for (const code of codes) set[code] = 1;
  return set;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const DIGITS = range(48, 57);

/** A recursive-descent reader for the subset; positions are kept so label sources can be cut out. */
class Parser {
  private pos = 0;

  constructor(private readonly source: string) {}

  parse(): Node[] {
    if (!this.source.startsWith('^') || !this.source.endsWith('$') || this.source.endsWith('\\$')) throw new Unsupported('not anchored');
    this.pos = 1;
    const alternatives = this.alternatives(this.source.length - 1);
    if (this.pos !== this.source.length - 1 || alternatives.length !== 1) throw new Unsupported('top-level alternation');
    return alternatives[0] as Node[];
  }

  private alternatives(stop: number): Node[][] {
    const result: Node[][] = [this.sequence(stop)];
    while (this.source[this.pos] === '|') {
      this.pos++;
      result.push(this.sequence(stop));
    }
    return result;
  }

  private sequence(stop: number): Node[] {
    const items: Node[] = [];
    while (this.pos < stop && this.source[this.pos] !== '|' && this.source[this.pos] !== ')') {
      const atom = this.atom();
      items.push(this.quantifier(atom));
    }
    return items;
  }

  private atom(): Node {
    const from = this.pos;
    const c = this.source[this.pos] as string;
    if (c === '(') return this.group();
    if (c === '[') return this.charClass();
    if (c === '\\') {
      const next = this.source[this.pos + 1] ?? '';
      this.pos += 2;
      if (next === 'd') return { type: 'class', set: charSet(DIGITS), from, to: this.pos };
      if (/^[.\-\\/_]$/.test(next)) return { type: 'char', code: next.charCodeAt(0), from, to: this.pos };
      throw new Unsupported(`escape \\${next}`);
    }
    if (/^[a-z0-9_-]$/.test(c)) {
      this.pos++;
      return { type: 'char', code: c.charCodeAt(0), from, to: this.pos };
    }
    throw new Unsupported(`character ${c}`);
  }

  private group(): Node {
    const from = this.pos;
    const s = this.source;
    let name: string | undefined;
    let look = false;
    if (s.startsWith('(?:', from)) this.pos += 3;
    else if (s.startsWith('(?!', from)) {
      look = true;
      this.pos += 3;
    } else if (s.startsWith('(?<', from) && s[from + 3] !== '=' && s[from + 3] !== '!') {
      const close = s.indexOf('>', from);
      name = s.slice(from + 3, close);
      this.pos = close + 1;
    } else if (s[from + 1] === '?') {
      throw new Unsupported('group kind');
    } else {
      // A plain numbered group would need its number kept; the registry names its groups.
      throw new Unsupported('unnamed capturing group');
    }
    const alternatives = this.alternatives(s.length);
    if (s[this.pos] !== ')') throw new Unsupported('unclosed group');
    this.pos++;
    if (look) return { type: 'look', alternatives, from, to: this.pos };
    return { type: 'group', name, alternatives, from, to: this.pos };
  }

  private charClass(): Node {
    const from = this.pos;
    const s = this.source;
    this.pos++;
    if (s[this.pos] === '^') throw new Unsupported('negated class');
    const codes: number[] = [];
    const readOne = (): number[] => {
      const c = s[this.pos] as string;
      if (c === '\\') {
        const next = s[this.pos + 1] ?? '';
        this.pos += 2;
        if (next === 'd') return DIGITS;
        if (/^[.\-\\\]_/]$/.test(next)) return [next.charCodeAt(0)];
        throw new Unsupported(`class escape \\${next}`);
      }
      if (c === undefined || c.charCodeAt(0) > 126 || c.charCodeAt(0) < 32) throw new Unsupported('class character');
      this.pos++;
      return [c.charCodeAt(0)];
    };
    while (s[this.pos] !== ']') {
      if (this.pos >= s.length) throw new Unsupported('unclosed class');
      const first = readOne();
      if (s[this.pos] === '-' && s[this.pos + 1] !== ']' && first.length === 1) {
        this.pos++;
        const last = readOne();
        if (last.length !== 1 || (last[0] as number) < (first[0] as number)) throw new Unsupported('class range');
        codes.push(...range(first[0] as number, last[0] as number));
      } else {
        codes.push(...first);
      }
    }
    this.pos++;
    return { type: 'class', set: charSet(codes), from, to: this.pos };
  }

  private quantifier(node: Node): Node {
    const s = this.source;
    let min: number;
    let max: number;
    const c = s[this.pos];
    if (c === '*' || c === '+' || c === '?') {
      min = c === '+' ? 1 : 0;
      max = c === '?' ? 1 : Infinity;
      this.pos++;
    } else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(s.slice(this.pos));
      if (!m) throw new Unsupported('brace');
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
      this.pos += m[0].length;
    } else {
      return node;
    }
    // Lazy or possessive forms can change the captures; leave them to the regular expression.
    if (s[this.pos] === '?' || s[this.pos] === '+') throw new Unsupported('lazy quantifier');
    if (node.type === 'look') throw new Unsupported('quantified lookahead');
    return { type: 'repeat', node, min, max, from: node.from, to: this.pos };
  }
}

/** Whether the nodes can consume a dot (lookaheads consume nothing, so they do not count). */
function consumesDot(nodes: readonly Node[]): boolean {
  return nodes.some((node) => {
    switch (node.type) {
      case 'char': return node.code === DOT;
      case 'class': return node.set[DOT] === 1;
      case 'group': return node.alternatives.some(consumesDot);
      case 'repeat': return consumesDot([node.node]);
      case 'look': return false;
    }
  });
}

function hasNamedGroup(nodes: readonly Node[]): boolean {
  return nodes.some((node) =>
    (node.type === 'group' && (node.name !== undefined || node.alternatives.some(hasNamedGroup))) ||
    (node.type === 'repeat' && hasNamedGroup([node.node])) ||
    (node.type === 'look' && node.alternatives.some(hasNamedGroup)));
}

const literalOf = (nodes: readonly Node[]): string | undefined =>
  nodes.every((n) => n.type === 'char') ? String.fromCharCode(...nodes.map((n) => (n as { code: number }).code)) : undefined;

/** A run of characters from one set, `min` to `max` long, whose first and last are in `edge`. */
export interface Run {
  set: CharSet;
  min: number;
  max: number;
  edge: CharSet | undefined;
}

/** How one label of the host is checked. */
export type LabelTemplate =
  /** One of these texts (one entry for a plain literal label). */
  | { kind: 'literal'; texts: string[]; capture: string | undefined }
  /** `prefix`, a run, `suffix`; `capture` names the run, `wholeCapture` the whole label. */
  | { kind: 'run'; prefix: string; run: Run; suffix: string; capture: string | undefined; wholeCapture: string | undefined }
  /** Checked by a sticky regular expression; captures read from it unless the whole label is one. */
  | { kind: 'regex'; source: string; prefix: string; hasCaptures: boolean; wholeCapture: string | undefined };

/** The labels in front of the suffix, left to right, for one shape of host the rule accepts. */
export type LabelVariant = LabelTemplate[];

function isSubset(a: CharSet, b: CharSet): boolean {
  for (let i = 0; i < 128; i++) if (a[i] === 1 && b[i] !== 1) return false;
  return true;
}

/** The run a sequence of nodes stands for, if it is one: `C`, `C{m,n}` or the DNS-label idiom `X(?:Y*X)?`. */
function readRun(nodes: readonly Node[]): { run: Run; capture: string | undefined } | undefined {
  const [first, second] = nodes;
  if (nodes.length === 1 && first?.type === 'group' && first.name !== undefined && first.alternatives.length === 1) {
    const inner = readRun(first.alternatives[0] as Node[]);
    return inner && inner.capture === undefined ? { run: inner.run, capture: first.name } : undefined;
  }
  if (nodes.length === 1 && first?.type === 'class') return { run: { set: first.set, min: 1, max: 1, edge: undefined }, capture: undefined };
  if (nodes.length === 1 && first?.type === 'repeat' && first.node.type === 'class') {
    return { run: { set: first.node.set, min: first.min, max: first.max, edge: undefined }, capture: undefined };
  }
  if (nodes.length === 2 && first?.type === 'class' && second?.type === 'repeat' && second.min === 0 && second.max === 1 &&
      second.node.type === 'group' && second.node.name === undefined && second.node.alternatives.length === 1) {
    const [many, last] = second.node.alternatives[0] as Node[];
    if (second.node.alternatives[0]?.length === 2 && many?.type === 'repeat' && many.min === 0 && many.max === Infinity &&
        many.node.type === 'class' && last?.type === 'class' && sameSet(last.set, first.set) && isSubset(first.set, many.node.set)) {
      // X(?:Y*X)? with X inside Y: one or more characters of Y, the first and the last in X.
      return { run: { set: many.node.set, min: 1, max: Infinity, edge: first.set }, capture: undefined };
    }
  }
  return undefined;
}

function sameSet(a: CharSet, b: CharSet): boolean {
  for (let i = 0; i < 128; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The literal characters a sequence starts with (a cheap first check before a regex runs). */
function leadingLiteral(nodes: readonly Node[]): string {
  let text = '';
  for (const node of nodes) {
    if (node.type !== 'char') break;
    text += String.fromCharCode(node.code);
  }
  return text;
}

function readLabel(nodes: Node[], source: string): LabelTemplate {
  if (nodes.length === 0) throw new Unsupported('empty label');
  if (consumesDot(nodes)) throw new Unsupported('label may contain a dot');
  let body = nodes;
  // A label wrapped whole in a group: unwrap it, remembering the name if it captures.
  let wholeCapture: string | undefined;
  const [only] = nodes;
  if (nodes.length === 1 && only?.type === 'group' && !only.alternatives.some(hasNamedGroup)) {
    wholeCapture = only.name;
    const texts = only.alternatives.map(literalOf);
    if (texts.every((t): t is string => t !== undefined && t !== '')) return { kind: 'literal', texts, capture: wholeCapture };
    if (only.alternatives.length === 1) body = only.alternatives[0] as Node[];
  }
  const text = literalOf(body);
  if (text !== undefined) return { kind: 'literal', texts: [text], capture: wholeCapture };
  let start = 0;
  while (body[start]?.type === 'char') start++;
  let end = body.length;
  while (end > start && body[end - 1]?.type === 'char') end--;
  const middle = readRun(body.slice(start, end));
  if (middle && (middle.capture === undefined || wholeCapture === undefined)) {
    return {
      kind: 'run',
      prefix: literalOf(body.slice(0, start)) as string,
      run: middle.run,
      suffix: literalOf(body.slice(end)) as string,
      capture: middle.capture,
      wholeCapture,
    };
  }
  const from = (nodes[0] as Node).from;
  const to = (nodes[nodes.length - 1] as Node).to;
  const innerCaptures = wholeCapture === undefined && hasNamedGroup(nodes);
  return { kind: 'regex', source: source.slice(from, to), prefix: leadingLiteral(body), hasCaptures: innerCaptures, wholeCapture };
}

/** An optional label `(?:\.X)?` written right after a label. */
function optionalLabel(node: Node): Node[] | undefined {
  if (node.type !== 'repeat' || node.min !== 0 || node.max !== 1 || node.node.type !== 'group') return undefined;
  const group = node.node;
  const [alternative] = group.alternatives;
  if (group.name !== undefined || group.alternatives.length !== 1 || !alternative) return undefined;
  const [dot] = alternative;
  if (dot?.type !== 'char' || dot.code !== DOT) return undefined;
  return alternative.slice(1);
}

const MAX_OPTIONAL_LABELS = 3;

/**
 * The label templates of an anchored host pattern whose last labels are `suffix`, one list per
 * shape of host it accepts (optional labels give several), or `undefined` when the pattern uses
 * syntax outside the subset and must be run as a whole.
 */
export function readHostPattern(pattern: string, suffix: string): LabelVariant[] | undefined {
  try {
    return splitLabels(new Parser(pattern).parse(), pattern, suffix);
  } catch (error) {
    if (error instanceof Unsupported) return undefined;
    throw error;
  }
}

function splitLabels(items: Node[], pattern: string, suffix: string): LabelVariant[] {
  // Split at top-level dots; `(?:\.X)?` after a label is a label that may be absent.
  const labels: Array<{ nodes: Node[]; optional: boolean }> = [];
  let current: Node[] = [];
  let dotDue = false;
  for (const item of items) {
    if (item.type === 'char' && item.code === DOT) {
      if (!dotDue) labels.push({ nodes: current, optional: false });
      current = [];
      dotDue = false;
      continue;
    }
    const optional = optionalLabel(item);
    if (optional) {
      // Right after a label, or after another optional label.
      if (current.length === 0 && !dotDue) throw new Unsupported('optional label in an odd place');
      if (!dotDue) labels.push({ nodes: current, optional: false });
      labels.push({ nodes: optional, optional: true });
      current = [];
      dotDue = true;
      continue;
    }
    if (dotDue) throw new Unsupported('optional label not followed by a dot');
    current.push(item);
  }
  if (dotDue) throw new Unsupported('optional last label');
  labels.push({ nodes: current, optional: false });
  const suffixLabels = suffix.split('.');
  const prefix = labels.slice(0, labels.length - suffixLabels.length);
  const tail = labels.slice(labels.length - suffixLabels.length);
  if (prefix.length === 0 || tail.some((l, i) => l.optional || literalOf(l.nodes) !== suffixLabels[i])) {
    throw new Unsupported('pattern does not end with its suffix');
  }
  const templates = prefix.map((l) => ({ template: readLabel(l.nodes, pattern), optional: l.optional }));
  const optionalCount = templates.filter((t) => t.optional).length;
  if (optionalCount > MAX_OPTIONAL_LABELS) throw new Unsupported('too many optional labels');
  const variants: LabelVariant[] = [];
  for (let bits = 0; bits < 1 << optionalCount; bits++) {
    let o = 0;
    const variant = templates.filter((t) => !t.optional || (bits >> o++) & 1).map((t) => t.template);
    if (variant.length > 0) variants.push(variant);
  }
  return variants;
}

/** The pattern with each named group made a plain numbered group, and the names by number. */
export function numberGroups(pattern: string): { source: string; names: Array<string | undefined> } {
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

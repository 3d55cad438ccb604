import { createRequire } from 'node:module';

/**
 * A load-time check that a registry's regular expression cannot backtrack catastrophically.
 *
 * JavaScript's regular expressions backtrack, so a pattern such as `^(a+)+$` takes time
 * exponential in the length of a host name that almost matches. A registry file is a trust root
 * (it chooses the CA for a host), but it is also input that pgcerts reads from PGCERTS_REGISTRY,
 * so it must not be able to hang every lookup. The pattern is parsed with `ret` (the tokenizer
 * that fastify's safe-regex2 uses); the rules are stricter than "star height 1", which would
 * refuse most real host patterns (`(?:-[a-z]+)+` is safe because every round starts with a `-`
 * that the round cannot contain elsewhere).
 *
 * Refused: a repeated part that can match nothing; a repeated part whose rounds could be split in
 * more than one way (its alternatives may start with the same character, or a character that can
 * start a round also appears later in the round); two unbounded repeats side by side whose
 * characters overlap (`.*.*`, polynomial); backreferences. This is a sufficient condition, not a
 * complete one: a safe pattern may be refused, and the message says which part to rewrite.
 */

interface Token {
  type: number;
  value?: number | Token | string;
  stack?: Token[];
  options?: Token[][];
  set?: Token[];
  not?: boolean;
  from?: number;
  to?: number;
  min?: number;
  max?: number | null;
  followedBy?: boolean;
  notFollowedBy?: boolean;
}

// ret's token types (ret/dist/types/tokens.d.ts).
const ROOT = 0, GROUP = 1, POSITION = 2, SET = 3, RANGE = 4, REPETITION = 5, REFERENCE = 6, CHAR = 7;
const MAX_CODE = 0x10ffff;

/** A character set as sorted, disjoint, inclusive code ranges. */
type Ranges = Array<[number, number]>;

function normalise(ranges: Ranges): Ranges {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: Ranges = [];
  for (const [from, to] of sorted) {
    const last = out[out.length - 1];
    if (last && from <= last[1] + 1) last[1] = Math.max(last[1], to);
    else out.push([from, to]);
  }
  return out;
}

const union = (...sets: Ranges[]): Ranges => normalise(sets.flat());

function complement(ranges: Ranges): Ranges {
  const out: Ranges = [];
  let next = 0;
  for (const [from, to] of normalise(ranges)) {
    if (from > next) out.push([next, from - 1]);
    next = to + 1;
  }
  if (next <= MAX_CODE) out.push([next, MAX_CODE]);
  return out;
}

function overlaps(a: Ranges, b: Ranges): boolean {
  return a.some(([af, at]) => b.some(([bf, bt]) => af <= bt && bf <= at));
}

function setRanges(token: Token): Ranges {
  const parts: Ranges = [];
  for (const item of token.set ?? []) {
    if (item.type === CHAR) parts.push([item.value as number, item.value as number]);
    else if (item.type === RANGE) parts.push([item.from as number, item.to as number]);
    else if (item.type === SET) parts.push(...setRanges(item));
  }
  return token.not ? complement(parts) : normalise(parts);
}

const isLook = (t: Token): boolean => t.type === GROUP && (t.followedBy === true || t.notFollowedBy === true);
const optionsOf = (t: Token): Token[][] => t.options ?? [t.stack ?? []];
// ret writes an unbounded maximum as Infinity.
const unbounded = (t: Token): boolean => t.type === REPETITION && (t.max === null || t.max === Infinity);
const repeats = (t: Token): boolean => t.type === REPETITION && (unbounded(t) || (t.max as number) > 1);

function nullable(t: Token): boolean {
  switch (t.type) {
    case CHAR: case SET: return false;
    case REPETITION: return t.min === 0 || nullable(t.value as Token);
    case GROUP: return isLook(t) || optionsOf(t).some((o) => o.every(nullable));
    default: return true;
  }
}

/** Characters that can start a match of the token. */
function first(t: Token): Ranges {
  switch (t.type) {
    case CHAR: return [[t.value as number, t.value as number]];
    case SET: return setRanges(t);
    case REPETITION: return t.max === 0 ? [] : first(t.value as Token);
    case GROUP: return isLook(t) ? [] : union(...optionsOf(t).map(firstOfSequence));
    default: return [];
  }
}

function firstOfSequence(items: Token[]): Ranges {
  const parts: Ranges[] = [];
  for (const item of items) {
    parts.push(first(item));
    if (!nullable(item)) break;
  }
  return union(...parts);
}

/** Every character the token can consume. */
function chars(t: Token): Ranges {
  switch (t.type) {
    case CHAR: case SET: return first(t);
    case REPETITION: return chars(t.value as Token);
    case GROUP: return isLook(t) ? [] : union(...optionsOf(t).flat().map(chars));
    default: return [];
  }
}

function describe(source: string): string {
  return source.length > 40 ? `${source.slice(0, 40)}...` : source;
}

/** Whether each round of a repeated body can be told apart from the next by its first character. */
function roundsAreUnambiguous(body: Token): boolean {
  if (body.type === CHAR || body.type === SET) return true;
  const options = body.type === GROUP ? optionsOf(body) : [[body]];
  const firsts = options.map(firstOfSequence);
  for (let i = 0; i < firsts.length; i++) {
    for (let j = i + 1; j < firsts.length; j++) if (overlaps(firsts[i] as Ranges, firsts[j] as Ranges)) return false;
  }
  const starts = union(...firsts);
  return options.every((items) => {
    const head = items[0];
    // Each round must begin with one mandatory character; what follows must not contain a
    // character that could begin the next round.
    if (!head || (head.type !== CHAR && head.type !== SET)) return false;
    return !overlaps(union(...items.slice(1).map(chars)), starts);
  });
}

function checkSequence(items: Token[], problems: string[]): void {
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as Token;
    const next = items[i + 1];
    if (next && unbounded(item) && unbounded(next) && overlaps(chars(item), first(next))) {
      problems.push('two unbounded repeats side by side can share characters (like .*.*), which backtracks polynomially');
    }
    checkToken(item, problems);
  }
}

function checkToken(t: Token, problems: string[]): void {
  if (t.type === REFERENCE) {
    problems.push('backreferences are not allowed');
    return;
  }
  if (t.type === GROUP || t.type === ROOT) {
    for (const option of optionsOf(t)) checkSequence(option, problems);
    return;
  }
  if (t.type !== REPETITION) return;
  const body = t.value as Token;
  if (repeats(t)) {
    if (isLook(body)) problems.push('a lookahead is repeated');
    else if (nullable(body)) problems.push('a repeated part can match nothing');
    else if (!roundsAreUnambiguous(body)) problems.push('a repeated part can be split into rounds in more than one way (nested or overlapping repeats)');
  }
  checkToken(body, problems);
}

const require = createRequire(import.meta.url);

/**
 * Find why a regular expression could backtrack catastrophically, if it could.
 * Returns a one-line reason naming the rule, or `undefined` when the pattern passes.
 * @example findBacktrackingRisk('^(a+)+$') // 'a repeated part can be split into rounds ...'
 */
export function findBacktrackingRisk(pattern: string): string | undefined {
  const ret = require('ret') as (source: string) => Token;
  let root: Token;
  try {
    root = ret(pattern);
  } catch (error) {
    return `it cannot be read (${(error as Error).message})`;
  }
  const problems: string[] = [];
  checkToken(root, problems);
  return problems[0] === undefined ? undefined : `${problems[0]} in "${describe(pattern)}"`;
}

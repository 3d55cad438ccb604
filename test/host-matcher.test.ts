import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HostMatcher, isReadByLabel, type RuleMatch } from '../src/host-matcher.js';
import { readHostPattern } from '../src/host-pattern.js';
import { normalizeHost } from '../src/hostname.js';
import { lookupHost } from '../src/lookup.js';
import { getBundledRegistry } from '../src/registry.js';
import type { HostRule, Provider } from '../src/registry-types.js';

/**
 * The matching rules written as plainly as possible, to hold the fast matcher to: a valid
 * normalised name; the longest suffix first, then by priority, a pattern before a bare rule; the
 * whole pattern run as a regular expression with named groups.
 */
function referenceMatch(providers: readonly Provider[], host: string): RuleMatch | undefined {
  const normalized = normalizeHost(host);
  if (normalized.type !== 'name' || normalized.host !== host) return undefined;
  const candidates = providers
    .flatMap((provider) => provider.hosts.map((rule) => ({ provider, rule })))
    .filter(({ rule }) => host.endsWith(`.${rule.suffix}`) && host.length > rule.suffix.length + 1)
    .sort((a, b) => b.rule.suffix.split('.').length - a.rule.suffix.split('.').length ||
      b.rule.priority - a.rule.priority ||
      Number(b.rule.pattern !== undefined) - Number(a.rule.pattern !== undefined));
  for (const { provider, rule } of candidates) {
    if (rule.pattern === undefined) return { provider, rule, region: undefined, captures: {} };
    const groups = new RegExp(rule.pattern).exec(host)?.groups;
    if (!new RegExp(rule.pattern).test(host)) continue;
    const { region, ...captures } = Object.fromEntries(Object.entries(groups ?? {}).filter(([, v]) => v !== undefined));
    return { provider, rule, region, captures };
  }
  return undefined;
}

/** What the two matchers are compared on (the objects themselves are the same registry objects). */
const summary = (found: RuleMatch | undefined) =>
  found && { provider: found.provider.id, rule: found.rule, region: found.region, captures: found.captures };

const registry = getBundledRegistry();
const rules = registry.providers.flatMap((provider) => provider.hosts);
const examples = rules.flatMap((rule) => rule.examples);
const suffixes = [...new Set(rules.map((rule) => rule.suffix))];

// Pieces of real host names, so random hosts come near the rules' edges often.
const pieces = [...new Set(examples.flatMap((e) => e.split(/([.-])/)).filter((p) => p !== '.' && p !== ''))];
const piece = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...pieces) },
  { weight: 1, arbitrary: fc.constantFrom('us', 'gov', 'cn', 'cluster', 'ro', 'custom', 'proxy', 'endpoint', 'shardgrp', 'global', 'pooler', 'private', 'do', 'user', 'c', 'ep', 'p', 'x', '1', '-', '--', '_', 'Z', 'é') },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'abcdef0123456789-_.'), minLength: 1, maxLength: 14 }) },
);
const label = fc.array(piece, { minLength: 1, maxLength: 4 }).map((parts) => parts.join(''));
const nearHost = fc.tuple(fc.array(label, { minLength: 1, maxLength: 5 }), fc.constantFrom(...suffixes, 'amazonaws.com', 'com', 'example.com'))
  .map(([front, suffix]) => `${front.join('.')}.${suffix}`);
const mutatedExample = fc.tuple(fc.constantFrom(...examples), fc.nat(), fc.constantFrom('', '-', '0', 'a', '.', 'x.', '-x', '_', 'A', 'ü'), fc.nat(3))
  .map(([host, at, insert, cut]) => {
    const i = at % (host.length + 1);
    return host.slice(0, i) + insert + host.slice(i + cut);
  });

describe.each([
  ['compiled label by label', 0],
  ['with whole patterns (before a suffix is compiled)', Infinity],
])('HostMatcher %s agrees with the plain reference', (_, planAfter) => {
  const matcher = new HostMatcher(registry.providers, { planAfter });

  it('on every registry example', () => {
    for (const example of examples) {
      const found = matcher.match(example);
      expect(found, example).toBeDefined();
      expect(summary(found), example).toEqual(summary(referenceMatch(registry.providers, example)));
    }
  });

  it('on random hosts built from the pieces of real ones, and on mutated examples', () => {
    let matched = 0;
    fc.assert(
      fc.property(fc.oneof(nearHost, mutatedExample, fc.domain()), (host) => {
        const found = matcher.match(host);
        if (found) matched++;
        expect(summary(found)).toEqual(summary(referenceMatch(registry.providers, host)));
      }),
      { numRuns: 20000 },
    );
    // The comparison means something only if many hosts do match.
    expect(matched).toBeGreaterThan(1000);
  });
});

describe('the registry', () => {
  it('checks every registry rule label by label (none falls back to its whole pattern)', () => {
    expect(rules.filter((rule) => !isReadByLabel(rule)).map((rule) => rule.pattern)).toEqual([]);
  });
});

/** A provider with only what the matcher reads. */
function provider(id: string, hosts: Array<Partial<HostRule> & { suffix: string }>): Provider {
  return { id, hosts: hosts.map((h) => ({ kind: 'instance', priority: 100, trust: 't', examples: [], ...h })) } as unknown as Provider;
}

describe('pattern syntax the label reader handles, and what it leaves to the regular expression', () => {
  const synthetic = [
    provider('literals', [
      { suffix: 'one.test', pattern: '^(?<cloud>aws|gcp|azure)\\.one\\.test$', priority: 300 },
      { suffix: 'one.test', pattern: '^db-(?<id>[0-9a-f]{4,8})-x\\.(?:zz|yy)\\.one\\.test$', priority: 200 },
      { suffix: 'one.test', pattern: '^c-(?<cluster>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)\\.one\\.test$', priority: 150 },
      { suffix: 'one.test', priority: 100 },
    ]),
    provider('optional', [
      { suffix: 'two.test', pattern: '^[a-z0-9-]+(?:\\.[a-z])?(?:\\.(?<zone>z[0-9]))?\\.two\\.test$' },
    ]),
    provider('regexes', [
      { suffix: 'three.test', pattern: '^(?<name>[a-m]+)-(?<n>\\d+)\\.(?!bad)(?<region>[a-z]{2}(?:-[a-z]+)+-\\d+)\\.three\\.test$', priority: 200 },
      // Outside the subset: a class that can hold a dot, and \w.
      { suffix: 'three.test', pattern: '^(?<all>[a-z.]+)\\.three\\.test$', priority: 150 },
      { suffix: 'three.test', pattern: '^\\w+\\.x\\.three\\.test$', priority: 100 },
      // Also outside: a lazy quantifier, an unnamed group, a positive lookahead.
      { suffix: 'three.test', pattern: '^(?<lazy>ab+?)\\.three\\.test$', priority: 90 },
      { suffix: 'three.test', pattern: '^(m+)-(?<after>\\d)\\.three\\.test$', priority: 80 },
      { suffix: 'three.test', pattern: '^(?=n)(?<look>[a-z-]+)\\.three\\.test$', priority: 70 },
      // Inside, as a regex at the label: a repeated character.
      { suffix: 'three.test', pattern: '^q{2,}(?<rest>[0-9]*)\\.three\\.test$', priority: 60 },
    ]),
    provider('deeper', [
      { suffix: 'sub.one.test', pattern: '^(?<name>[a-z]+)\\.sub\\.one\\.test$' },
    ]),
  ];
  const matcher = new HostMatcher(synthetic, { planAfter: 0 });
  const simple = new HostMatcher(synthetic, { planAfter: Infinity });
  const vocabulary = ['qq', 'mm', 'n-', 'abbb', 'aws', 'gcp', 'azure', 'db', 'x', 'zz', 'yy', 'c', 'cafe', '0123', 'abcd1234', 'z1', 'z', 'q', 'bad', 'eu', 'west', '1', 'ab',
    'sub', 'one', 'two', 'three', 'test', 'n', 'm', 'mm', '-', '--', '_', '9'];
  const syntheticLabel = fc.array(fc.constantFrom(...vocabulary), { minLength: 1, maxLength: 4 }).map((p) => p.join(''));
  const syntheticHost = fc.tuple(fc.array(syntheticLabel, { minLength: 1, maxLength: 4 }), fc.constantFrom('one.test', 'sub.one.test', 'two.test', 'three.test', 'x.three.test', 'test'))
    .map(([front, suffix]) => `${front.join('.')}.${suffix}`);

  it('reads labels where it can and leaves the rest whole', () => {
    const read = synthetic.flatMap((p) => p.hosts).filter((r) => r.pattern !== undefined).map((r) => isReadByLabel(r));
    expect(read).toEqual([true, true, true, true, true, false, false, false, false, false, true, true]);
    expect(readHostPattern('^(?<cloud>aws|gcp|azure)\\.one\\.test$', 'one.test')).toEqual([[{ kind: 'literal', texts: ['aws', 'gcp', 'azure'], capture: 'cloud' }]]);
    // Two optional labels: four shapes.
    expect(readHostPattern('^[a-z0-9-]+(?:\\.[a-z])?(?:\\.(?<zone>z[0-9]))?\\.two\\.test$', 'two.test')?.map((v) => v.length)).toEqual([1, 2, 2, 3]);
    expect(readHostPattern('^a\\.b\\.other\\.test$', 'two.test')).toBeUndefined();
    expect(readHostPattern('^(a|b)\\.two\\.test$', 'two.test')).toBeUndefined();
  });

  it.each([
    ['gcp.one.test', 'literals', undefined, { cloud: 'gcp' }],
    ['db-cafe12-x.yy.one.test', 'literals', undefined, { id: 'cafe12' }],
    ['c-my-db.one.test', 'literals', undefined, { cluster: 'my-db' }],
    ['c--x.one.test', 'literals', undefined, {}],
    ['abc.sub.one.test', 'deeper', undefined, { name: 'abc' }],
    ['9.sub.one.test', 'literals', undefined, {}],
    ['host-1.q.z7.two.test', 'optional', undefined, { zone: 'z7' }],
    ['host-1.z7.two.test', 'optional', undefined, { zone: 'z7' }],
    ['abc-12.eu-west-1.three.test', 'regexes', 'eu-west-1', { name: 'abc', n: '12' }],
    ['abc-12.bad-west-1.three.test', undefined, undefined, undefined],
    ['abc.bad.three.test', 'regexes', undefined, { all: 'abc.bad' }],
    ['under_score.x.three.test', 'regexes', undefined, {}],
    ['abbb.three.test', 'regexes', undefined, { all: 'abbb' }],
    ['mm-1.three.test', 'regexes', undefined, { after: '1' }],
    ['qqq12.three.test', 'regexes', undefined, { rest: '12' }],
    ['qq.three.test', 'regexes', undefined, { all: 'qq' }],
    ['n-x.three.test', 'regexes', undefined, { look: 'n-x' }],
  ] as const)('%s', (host, id, region, captures) => {
    const found = matcher.match(host);
    expect(found?.provider.id).toBe(id);
    expect(found?.region).toBe(region);
    expect(found?.captures).toEqual(captures);
    expect(summary(found)).toEqual(summary(referenceMatch(synthetic, host)));
    expect(summary(simple.match(host))).toEqual(summary(found));
  });

  it('agrees with the reference on random hosts over these rules', () => {
    let matched = 0;
    fc.assert(
      fc.property(syntheticHost, (host) => {
        const found = matcher.match(host);
        if (found) matched++;
        expect(summary(found)).toEqual(summary(referenceMatch(synthetic, host)));
        expect(summary(simple.match(host))).toEqual(summary(found));
      }),
      { numRuns: 20000 },
    );
    expect(matched).toBeGreaterThan(1000);
  });

  it('answers the same before, while and after a suffix gets compiled', () => {
    const tiered = new HostMatcher(synthetic, { planAfter: 3 });
    const hosts = ['gcp.one.test', 'c-my-db.one.test', 'x.one.test', 'abc-12.eu-west-1.three.test', 'abc.bad.three.test', 'nothing.test'];
    for (let round = 0; round < 6; round++) {
      for (const host of hosts) expect(summary(tiered.match(host)), host).toEqual(summary(referenceMatch(synthetic, host)));
    }
  });

  it('refuses a suffix label that is not a valid lower-case DNS label', () => {
    expect(() => new HostMatcher([provider('bad', [{ suffix: 'Upper.test' }])])).toThrow(/"Upper"/);
    expect(() => new HostMatcher([provider('bad', [{ suffix: 'x.123' }])])).toThrow(/"123"/);
  });
});

describe('lookupHost tries the host as written first', () => {
  const written = fc.oneof(
    mutatedExample,
    fc.constantFrom(...examples).map((h) => h.toUpperCase()),
    fc.tuple(fc.constantFrom(...examples), fc.constantFrom('.', '..', ' ', ' .', '\t'), fc.boolean())
      .map(([h, end, upper]) => (upper ? h.toUpperCase() : h) + end),
    // The Kelvin sign lower-cases to an ASCII "k"; IDNA maps it the same way.
    fc.constantFrom(...examples).map((h) => h.replace(/k/g, '\u212a')),
    fc.constantFrom(...examples).map((h) => `b\u00fccher.${h}`),
    fc.string(),
  );

  it('and answers as normalising first would', () => {
    fc.assert(
      fc.property(written, (input) => {
        const result = lookupHost({ host: input });
        const normalized = normalizeHost(input);
        const expected = normalized.type === 'name' ? registry.hostMatcher.match(normalized.host) : undefined;
        expect(result.host).toBe(normalized.type === 'invalid' ? undefined : normalized.host);
        expect(result.match?.provider).toBe(expected?.provider.id);
        expect(result.match?.region).toBe(expected?.region);
        expect(result.match?.captures).toEqual(expected?.captures);
      }),
      { numRuns: 5000 },
    );
  });
});

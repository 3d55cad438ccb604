import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeHost } from '../src/hostname.js';
import { lookupHost } from '../src/lookup.js';
import { getBundledRegistry } from '../src/registry.js';

describe('normalizeHost', () => {
  it.each([
    ['DB.Example.COM', 'db.example.com'],
    ['  db.example.com.  ', 'db.example.com'],
    ['bücher.example', 'xn--bcher-kva.example'],
    ['BÜCHER.example.', 'xn--bcher-kva.example'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
  ])('%s is the name %s', (input, host) => {
    expect(normalizeHost(input)).toEqual({ type: 'name', host });
  });

  it.each([
    ['10.0.0.1', 4],
    ['[2001:DB8::1]', 6],
    ['::1', 6],
  ])('%s is an IP address', (input, version) => {
    expect(normalizeHost(input)).toMatchObject({ type: 'ip', version });
  });

  it.each([
    ['', 'empty'],
    ['.', 'empty'],
    ['db..example.com', 'empty label'],
    ['db.example.com..', 'empty label'],
    ['-db.example.com', 'not a valid DNS label'],
    ['db example.com', 'not a valid'],
    ['db/example.com', 'not a valid DNS label'],
    ['300.1.1.1', 'IP address'],
    ['a'.repeat(64) + '.example.com', 'not a valid DNS label'],
    [`${'a.'.repeat(127)}com`, 'longer than 253'],
  ])('%j is invalid (%s)', (input, reason) => {
    const result = normalizeHost(input);
    expect(result.type).toBe('invalid');
    expect(result.type === 'invalid' && result.reason).toContain(reason);
  });
});

describe('host matching properties', () => {
  const registry = getBundledRegistry();
  const rules = registry.providers.flatMap((provider) => provider.hosts.map((rule) => ({ provider, rule })));
  const examples = rules.flatMap(({ provider, rule }) => rule.examples.map((example) => ({ provider, rule, example })));
  const labelChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'.split(''));
  const label = fc.string({ unit: labelChar, minLength: 1, maxLength: 12 }).filter((l) => !l.startsWith('-') && !l.endsWith('-'));

  it('never throws, whatever the input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.domain()), (input) => {
        const result = lookupHost({ host: input });
        expect(result.input).toBe(input);
        expect(result.match === undefined || typeof result.match.provider === 'string').toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('never matches a suffix glued to other characters (no label boundary)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...rules), label, ({ rule }, glue) => {
        const host = `${glue}${rule.suffix}`;
        const found = registry.hostMatcher.match(host);
        expect(found?.rule.suffix).not.toBe(rule.suffix);
        if (found) expect(host.endsWith(`.${found.rule.suffix}`)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('never matches a provider host with labels appended (suffix must end the name)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...examples), fc.array(label, { minLength: 1, maxLength: 3 }), ({ rule }, extra) => {
        const host = `${rule.examples[0]}.${extra.join('.')}`;
        const found = registry.hostMatcher.match(host);
        expect(found?.rule).not.toBe(rule);
        if (found) expect(host.endsWith(`.${found.rule.suffix}`)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('gives the same answer for upper case and a trailing dot', () => {
    fc.assert(
      fc.property(fc.constantFrom(...examples), fc.boolean(), ({ example }, dot) => {
        const plain = lookupHost({ host: example }).match;
        const shouted = lookupHost({ host: `  ${example.toUpperCase()}${dot ? '.' : ''} ` }).match;
        expect(shouted).toEqual(plain);
        expect(plain).toBeDefined();
      }),
    );
  });
});

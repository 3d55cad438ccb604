import { describe, expect, it } from 'vitest';
import { findBacktrackingRisk } from '../src/regex-safety.js';
import { getBundledRegistry } from '../src/registry.js';

describe('findBacktrackingRisk', () => {
  it.each([
    ['^(a+)+$', 'more than one way'],
    ['^(?:[a-z0-9]+-?)+\\.example\\.com$', 'more than one way'],
    ['^(a|a)*$', 'more than one way'],
    ['^(?:ab|ac)+$', 'more than one way'],
    ['^(?:[a-z0-9-]+\\.)*example\\.com$', 'more than one way'],
    ['^(a*)*$', 'match nothing'],
    ['^(?:(?=a)){2,}$', 'match nothing'],
    ['^(?=a){2,}b$', 'lookahead is repeated'],
    ['^.*.*=x$', 'side by side'],
    ['^\\d+\\d*$', 'side by side'],
    ['^(\\d+)-\\1$', 'backreferences'],
  ])('refuses %s', (pattern, reason) => {
    expect(findBacktrackingRisk(pattern)).toContain(reason);
  });

  it.each([
    '^(?:-[a-z]+)+$',
    '^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\\.example\\.com$',
    '^(?<region>(?!us-gov-|cn-)[a-z]{2}(?:-[a-z]+)+-\\d+)\\.rds\\.amazonaws\\.com$',
    '^(?:a|b)+$',
    '^.*a.*$',
    '^(?=.*(?:^|, )CN=Example Root(?:,|$)).*$',
  ])('accepts %s', (pattern) => {
    expect(findBacktrackingRisk(pattern)).toBeUndefined();
  });

  it('accepts every pattern of the bundled registry', () => {
    const patterns = getBundledRegistry().providers.flatMap((p) => [
      ...p.hosts.flatMap((h) => (h.pattern === undefined ? [] : [h.pattern])),
      ...p.trust.flatMap((t) => (t.constraints ? [t.constraints.subject] : [])),
    ]);
    expect(patterns.length).toBeGreaterThan(40);
    for (const pattern of patterns) expect([pattern, findBacktrackingRisk(pattern)]).toEqual([pattern, undefined]);
  });

  it('names a pattern it cannot read and shortens long ones', () => {
    expect(findBacktrackingRisk('^(unclosed$')).toContain('cannot be read');
    const long = `^(a+)+${'b'.repeat(500)}$`;
    const risk = findBacktrackingRisk(long) as string;
    expect(risk.length).toBeLessThan(200);
  });
});

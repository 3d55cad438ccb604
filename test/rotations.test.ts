// The registry's calendar of rotations: `pgcerts check` warns once a rotation's date has passed
// while the registry's pins, or the shipped roots, were checked before it. Dates are injected
// relative to the registry's own rotation dates, never today's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runChecks } from '../src/check.js';
import { Registry, getBundledRegistry } from '../src/registry.js';
import type { PinnedCertificate, Provider } from '../src/registry-types.js';
import { findRotationWarnings } from '../src/rotations.js';
import { loadShippedRoots } from '../src/shipped-roots.js';

const bundled = getBundledRegistry();
const rds = bundled.getProvider('rds');
const DAY_MS = 86_400_000;
const cacheDir = join(mkdtempSync(join(tmpdir(), 'pgcerts-rotations-')), 'cache');
afterAll(() => rmSync(join(cacheDir, '..'), { recursive: true, force: true }));
const [first] = rds.rotations ?? [];
const at = (date: string, days: number): Date => new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS);

/** The bundled registry with every RDS pin checked on `checked`, and `extra` pinned too. */
function withRdsChecked(checked: string, extra: PinnedCertificate[] = []): Registry {
  const providers = bundled.providers.map((p): Provider => (p.id !== 'rds' ? p : { ...p, certificates: [...p.certificates, ...extra].map((c) => ({ ...c, cite: { ...c.cite, checked } })) }));
  return new Registry({ schemaVersion: bundled.schemaVersion, version: '9.9.9', contentSha256: bundled.contentSha256, providers });
}

describe('the rotation calendar', () => {
  it('lists the GovCloud intermediate expiries and Azure\'s 2026 rotations, each citing its source', () => {
    expect(rds.rotations?.map((r) => r.date)).toEqual(['2027-01-03', '2027-04-20']);
    expect(rds.rotations?.every((r) => r.trust.join() === 'aws-us-gov' && r.cite.confirmed === false)).toBe(true);
    expect(bundled.getProvider('azure').rotations?.map((r) => r.date)).toEqual(['2026-01-21', '2026-01-28']);
  });

  it('warns nothing before a rotation, nor for a rotation the registry was checked after (Azure\'s)', () => {
    expect(first).toBeDefined();
    expect(findRotationWarnings(bundled, at(first?.date as string, -1))).toEqual([]);
  });

  it('warns that the registry predates a rotation whose date has passed, naming it and the next step', () => {
    const warnings = findRotationWarnings(bundled, at(first?.date as string, 1));
    expect(warnings).toEqual([expect.objectContaining({ code: 'registry-predates-rotation', provider: 'rds', date: '2027-01-03' })]);
    expect(warnings[0]?.message).toMatch(/^The pgcerts registry \d+\.\d+\.\d+ predates the rds \(aws-us-gov\) rotation of 2027-01-03: The GovCloud RSA4096 G1 intermediates expire .*; its pins were last checked on \d{4}-\d\d-\d\d, so they may lack the new certificates\. Update pgcerts/);
    expect(findRotationWarnings(bundled, at('2027-04-20', 1)).map((w) => w.date)).toEqual(['2027-01-03', '2027-04-20']);
  });

  it('warns that the shipped roots predate a rotation that a newer registry knows and pins a certificate for', () => {
    // Checked after the rotations, with the same pins: the shipped roots hold all of them.
    expect(findRotationWarnings(withRdsChecked('2027-05-01'), at('2027-04-20', 1))).toEqual([]);
    const successor = { ...(rds.certificates.find((c) => c.region === 'us-gov-west-1' && c.subject.endsWith('RSA4096 G1')) as PinnedCertificate), sha256: 'AA:'.repeat(31) + 'AA', notAfter: '2032-01-04T00:00:00.000Z' };
    const newer = withRdsChecked('2027-05-01', [successor]);
    expect(findRotationWarnings(newer, at('2027-04-20', 1), false)).toEqual([]);
    const warnings = findRotationWarnings(newer, at('2027-04-20', 1));
    expect(warnings.map((w) => [w.code, w.date])).toEqual([['shipped-roots-predate-rotation', '2027-01-03'], ['shipped-roots-predate-rotation', '2027-04-20']]);
    expect(warnings[0]?.message).toContain(`The roots shipped with pgcerts (registry ${loadShippedRoots().registryVersion}, rds pins checked on ${loadShippedRoots().providers.rds})`);
    expect(warnings[0]?.message).toContain('and lack 1 certificate the registry 9.9.9 pins for it ("Amazon RDS us-gov-west-1 RSA4096 G1"), so those bundles are downloaded, and --offline cannot build them. Run `pgcerts fetch rds --force` while online');
  });

  it('goes into the registry target of pgcerts check, as a WARNING, and off with the registry-age switch', async () => {
    const now = at(first?.date as string, 1);
    const report = await runChecks({ now, cacheDir, registry: bundled });
    const registryTarget = report.targets.find((t) => t.kind === 'registry');
    expect(registryTarget?.problems.filter((p) => p.code === 'registry-predates-rotation')).toEqual([expect.objectContaining({ status: 'WARNING' })]);
    expect(report.summary).toContain('registry predates rotation');
    const silenced = await runChecks({ now, cacheDir, registry: bundled, maxRegistryAgeDays: null });
    expect(silenced.targets.find((t) => t.kind === 'registry')?.problems).toEqual([]);
  });
});

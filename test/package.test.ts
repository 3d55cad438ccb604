// What `npm pack` ships: the library entry and everything it imports, the bundled CLI, the
// registry and its schemas, README and LICENSE; not the dist/cli modules the bundle has inlined,
// and no script that npm would run on install. `pretest` has built dist/, so the packs here run
// with --ignore-scripts (a prepack build in the middle of the suite would rewrite dist/ under
// the other tests).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanEnv } from './helpers/cli.js';

const root = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string;
  engines: { node: string };
  exports: Record<string, string | Record<string, string>>;
  scripts: Record<string, string>;
  bin: Record<string, string>;
  main: string;
  types: string;
};

const temps: string[] = [];
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

function npm(args: string[], cwd = root): string {
  const result = spawnSync('npm', args, { cwd, encoding: 'utf8', env: cleanEnv({ npm_config_loglevel: 'error' }) });
  expect(result.status, result.stderr).toBe(0);
  return result.stdout;
}

/** Every file under a directory, as package paths (`dist/index.js`). */
function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? walk(path) : [relative(root, path).split('\\').join('/')];
  });
}

/** The relative modules a built file imports (static, dynamic and type-only imports). */
function relativeImports(path: string): string[] {
  const text = readFileSync(join(root, path), 'utf8');
  const specifiers = [...text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1] as string);
  return specifiers.map((specifier) => {
    const target = posix.normalize(posix.join(posix.dirname(path), specifier));
    return path.endsWith('.d.ts') ? target.replace(/\.js$/, '.d.ts') : target;
  });
}

const packed = JSON.parse(npm(['pack', '--dry-run', '--json', '--ignore-scripts'])) as Array<{ files: Array<{ path: string }>; entryCount: number }>;
const files = (packed[0]?.files ?? []).map((f) => f.path).sort();

describe('npm pack', () => {
  it('ships dist/ without dist/cli, the registry, its schemas, the shipped roots, README.md, LICENSE and package.json, and nothing else', () => {
    const dist = walk(join(root, 'dist')).filter((path) => !path.startsWith('dist/cli/'));
    const expected = [
      ...dist,
      'LICENSE',
      'README.md',
      'package.json',
      'registry/provider.schema.json',
      'registry/registry.json',
      'registry/registry.schema.json',
      'registry/roots.json',
    ].sort();
    expect(files).toEqual(expected);
    expect(files).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'dist/pgcerts.cjs']));
    expect(files.filter((path) => path.startsWith('dist/cli'))).toEqual([]);
    expect(packed[0]?.entryCount).toBe(expected.length);
  });

  it('ships every module the library entry and its type declarations import, none of them under dist/cli', () => {
    const seen = new Set<string>();
    const queue = [pkg.main.replace(/^\.\//, ''), pkg.types.replace(/^\.\//, '')];
    while (queue.length > 0) {
      const path = queue.pop() as string;
      if (seen.has(path)) continue;
      seen.add(path);
      expect(files, `imported by the library: ${path}`).toContain(path);
      queue.push(...relativeImports(path));
    }
    expect(seen.size).toBeGreaterThan(40);
    expect([...seen].filter((path) => path.startsWith('dist/cli/'))).toEqual([]);
  });

  it('ships every file that exports and bin name', () => {
    const targets = Object.values(pkg.exports).flatMap((target) => (typeof target === 'string' ? [target] : Object.values(target)));
    expect(targets).toEqual(expect.arrayContaining(['./registry/provider.schema.json', './registry/registry.schema.json']));
    for (const target of [...targets, ...Object.values(pkg.bin)]) expect(files).toContain(target.replace(/^\.\//, ''));
  });

  it('has no script that npm runs when the tarball is installed, and an engines range that require() of the ESM build fits', () => {
    // npm 11 warns about the install scripts of a package installed from a tarball or git, `prepare`
    // included. `npm pack` builds in `prepack`; `npm ci` in a clone (and npm's preparation of a git
    // dependency) builds in `dependencies`, which npm runs for the project root only.
    for (const script of ['preinstall', 'install', 'postinstall', 'prepare']) expect(pkg.scripts[script], script).toBeUndefined();
    expect(pkg.scripts.prepack).toBe('npm run build');
    expect(pkg.scripts.dependencies).toBe('npm run build');
    // require() of ES modules without a flag: Node 20.19 and 22.12.
    expect(pkg.engines.node).toBe('^20.19.0 || >=22.12.0');
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    expect(major > 22 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19), process.version).toBe(true);
  });

  it('works from the packed tarball: require() and import of the library and its schemas, and the bin without dist/cli', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgcerts-pack-'));
    temps.push(dir);
    const tgz = join(dir, JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dir]))[0].filename as string);
    const modules = join(dir, 'app', 'node_modules');
    mkdirSync(modules, { recursive: true });
    const tar = spawnSync('tar', ['-xzf', tgz, '-C', modules], { encoding: 'utf8' });
    expect(tar.status, tar.stderr).toBe(0);
    renameSync(join(modules, 'package'), join(modules, 'pgcerts'));
    expect(walk(join(modules, 'pgcerts')).map((path) => relative(relative(root, join(modules, 'pgcerts')), path).split('\\').join('/')).sort()).toEqual(files);
    // The dependencies come from this checkout; the package's own files only from the tarball.
    symlinkSync(join(root, 'node_modules'), join(modules, 'pgcerts', 'node_modules'), 'dir');
    const app = dirname(modules);
    const host = 'mydb.abc123xyz.eu-west-1.rds.amazonaws.com';
    const node = (args: string[]) => spawnSync(process.execPath, args, { cwd: app, encoding: 'utf8', env: cleanEnv() });

    const required = node(['-e', `const p = require('pgcerts'); const s = require('pgcerts/provider.schema.json'); const r = require('pgcerts/registry.schema.json'); console.log(JSON.stringify([p.lookup('${host}')[0].match.region, typeof s, typeof r, require('pgcerts/package.json').version]))`]);
    expect(required.stderr).toBe('');
    expect(JSON.parse(required.stdout)).toEqual(['eu-west-1', 'object', 'object', pkg.version]);

    const imported = node(['--input-type=module', '-e', `import { lookup } from 'pgcerts'; import s from 'pgcerts/provider.schema.json' with { type: 'json' }; console.log(JSON.stringify([lookup('${host}')[0].match.provider, s.$schema !== undefined]))`]);
    expect(imported.stderr).toBe('');
    expect(JSON.parse(imported.stdout)).toEqual(['rds', true]);

    const cli = node([join(modules, 'pgcerts', pkg.bin.pgcerts as string), 'lookup', host, '--json']);
    expect(cli.stderr).toBe('');
    expect(cli.status).toBe(0);
    expect((JSON.parse(cli.stdout) as { results: Array<{ match: { provider: string } }> }).results[0]?.match.provider).toBe('rds');
  });
});

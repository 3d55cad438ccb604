import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { PgcertsError, UPDATE_HOW } from './errors.js';
import { HostMatcher } from './host-matcher.js';
import { checkProviders } from './registry-check.js';
import type { Provider, RegistryData } from './registry-types.js';

/** Registry schema versions this code reads (a semver range). */
export const SUPPORTED_SCHEMA_RANGE = '^1.0.0';
const CURRENT_SCHEMA = '1.2.0';

/** Path of the registry shipped with the package. */
export const BUNDLED_REGISTRY_PATH = fileURLToPath(new URL('../registry/registry.json', import.meta.url));

const require = createRequire(import.meta.url);

/** A loaded, checked registry with fast lookups by id and host. */
export class Registry {
  readonly version: string;
  readonly schemaVersion: string;
  readonly contentSha256: string;
  readonly providers: readonly Provider[];
  /** Where it was read from. */
  readonly path: string | undefined;
  private readonly byName = new Map<string, Provider>();
  private matcher: HostMatcher | undefined;

  constructor(data: RegistryData, path?: string) {
    this.version = data.version;
    this.schemaVersion = data.schemaVersion;
    this.contentSha256 = data.contentSha256;
    this.providers = data.providers;
    this.path = path;
    for (const provider of data.providers) {
      this.byName.set(provider.id, provider);
      for (const alias of provider.aliases) this.byName.set(alias, provider);
    }
  }

  /** The provider with this id or alias (case-insensitive), or `undefined`. */
  findProvider(name: string): Provider | undefined {
    return this.byName.get(name.trim().toLowerCase());
  }

  /**
   * The provider with this id or alias.
   * @throws PgcertsError `UNKNOWN_PROVIDER`, suggesting the closest id.
   */
  getProvider(name: string): Provider {
    const provider = this.findProvider(name);
    if (provider) return provider;
    const suggestion = suggest(name.trim().toLowerCase(), [...this.byName.keys()]);
    const hint = suggestion ? ` Did you mean "${suggestion}"?` : '';
    throw new PgcertsError('UNKNOWN_PROVIDER', `Unknown provider "${name}".${hint} Run \`pgcerts list\` to see provider ids.`);
  }

  /** The host-rule matcher, built on first use. */
  get hostMatcher(): HostMatcher {
    this.matcher ??= new HostMatcher(this.providers);
    return this.matcher;
  }
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number;
      row[j] = Math.min(current + 1, (row[j - 1] as number) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length] as number;
}

/** The candidate closest to `name` (a prefix, or a small edit distance), for "did you mean" hints. */
export function suggest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = candidate.startsWith(name) || name.startsWith(candidate) ? 1 : distance(name, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function checkSchemaVersion(version: unknown, path: string): void {
  if (version === CURRENT_SCHEMA) return;
  // Only a registry written for another schema pays for loading semver.
  const semver = require('semver') as typeof import('semver');
  if (typeof version !== 'string' || !semver.valid(version)) {
    throw new PgcertsError('REGISTRY_INVALID', `Registry "${path}" has no valid schemaVersion (found ${JSON.stringify(version)}); reinstall pgcerts or rebuild the registry with \`npm run registry:build\`.`);
  }
  if (!semver.satisfies(version, SUPPORTED_SCHEMA_RANGE)) {
    const next = semver.gt(version, CURRENT_SCHEMA)
      ? `upgrade pgcerts (${UPDATE_HOW}) to read it`
      : 'use a registry built for this pgcerts (unset PGCERTS_REGISTRY to use the bundled one)';
    throw new PgcertsError('REGISTRY_UNSUPPORTED', `Registry "${path}" uses schema ${version}, but this pgcerts reads schema ${SUPPORTED_SCHEMA_RANGE}; ${next}.`);
  }
}

/**
 * Check parsed registry data: supported schema, expected shape and intact content.
 * @throws PgcertsError `REGISTRY_UNSUPPORTED` or `REGISTRY_INVALID`.
 */
export function parseRegistry(data: unknown, path: string): Registry {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new PgcertsError('REGISTRY_INVALID', `Registry "${path}" is not a JSON object; reinstall pgcerts or rebuild the registry with \`npm run registry:build\`.`);
  }
  const record = data as Record<string, unknown>;
  checkSchemaVersion(record.schemaVersion, path);
  if (!Array.isArray(record.providers) || typeof record.version !== 'string' || typeof record.contentSha256 !== 'string') {
    throw new PgcertsError('REGISTRY_INVALID', `Registry "${path}" lacks version, contentSha256 or providers; reinstall pgcerts or rebuild the registry with \`npm run registry:build\`.`);
  }
  return new Registry(data as RegistryData, path);
}

/**
 * Read and check a registry file (by default the one shipped with pgcerts).
 * @throws PgcertsError `REGISTRY_UNREADABLE`, `REGISTRY_INVALID` or `REGISTRY_UNSUPPORTED`.
 */
export function loadRegistry(path: string = BUNDLED_REGISTRY_PATH): Registry {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new PgcertsError('REGISTRY_UNREADABLE', `Cannot read registry "${path}": ${(cause as NodeJS.ErrnoException).code ?? String(cause)}; check the path (PGCERTS_REGISTRY) or reinstall pgcerts.`, { cause });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (cause) {
    throw new PgcertsError('REGISTRY_INVALID', `Registry "${path}" is not valid JSON (${(cause as Error).message}); rebuild it with \`npm run registry:build\` or reinstall pgcerts.`, { cause });
  }
  const registry = parseRegistry(data, path);
  // The bundled file was validated when it was built; any other file is checked in full.
  if (path !== BUNDLED_REGISTRY_PATH) validateRegistryData(data as RegistryData, path);
  return registry;
}

/**
 * Validate registry data in full: content hash, JSON Schema and cross-reference checks.
 * @throws PgcertsError `REGISTRY_INVALID` naming the first problems.
 */
export function validateRegistryData(data: RegistryData, path: string): void {
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  if (createHash('sha256').update(JSON.stringify(data.providers)).digest('hex') !== data.contentSha256) {
    throw new PgcertsError('REGISTRY_INVALID', `Registry "${path}" does not match its contentSha256 (edited by hand or damaged); rebuild it with \`npm run registry:build\` or reinstall pgcerts.`);
  }
  const Ajv = require('ajv') as typeof import('ajv').default;
  const schemaDir = new URL('../registry/', import.meta.url);
  const readSchema = (name: string): object => JSON.parse(readFileSync(new URL(name, schemaDir), 'utf8')) as object;
  const ajv = new Ajv({ allErrors: true, strict: false });
  ajv.addSchema(readSchema('provider.schema.json'), 'provider.schema.json');
  const validate = ajv.compile(readSchema('registry.schema.json'));
  const problems = validate(data)
    ? checkProviders(data.providers)
    : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
  if (problems.length > 0) {
    const more = problems.length > 3 ? ` (and ${problems.length - 3} more)` : '';
    throw new PgcertsError('REGISTRY_INVALID', `Registry "${path}" is invalid: ${problems.slice(0, 3).join('; ')}${more}. Fix the provider files and rebuild with \`npm run registry:build\`.`);
  }
}

/**
 * The bundled registry's version, read from the head of its file: the build writes
 * `{"schemaVersion":"...","version":"...",` first. `undefined` when the head does not read so
 * (then load the registry to find out why).
 */
export function readBundledRegistryVersion(): string | undefined {
  let head: string;
  try {
    const fd = openSync(BUNDLED_REGISTRY_PATH, 'r');
    try {
      const buffer = Buffer.alloc(256);
      head = buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, 0)).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const m = /^\{"schemaVersion":"([^"\\]+)","version":"([^"\\]+)","contentSha256":"[0-9a-f]{64}","providers":\[/.exec(head);
  if (!m) return undefined;
  try {
    checkSchemaVersion(m[1], BUNDLED_REGISTRY_PATH);
  } catch {
    return undefined;
  }
  return m[2];
}

let bundled: Registry | undefined;

/** The registry shipped with pgcerts, loaded once. */
export function getBundledRegistry(): Registry {
  bundled ??= loadRegistry();
  return bundled;
}

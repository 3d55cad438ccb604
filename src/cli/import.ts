import type { BundleOptions } from '../fetch.js';
import type { Registry } from '../registry.js';
import { describeResult } from './fetch.js';
import { EXIT, out, outJson, warn } from './output.js';

/** `pgcerts import --remove <provider> [--host H]`: drop an imported file; downloads serve again. */
export async function runRemoveImport(registry: Registry, name: string, flags: { host?: string; trust?: string; json?: boolean }, base: BundleOptions): Promise<number> {
  const { removeImport } = await import('../fetch.js');
  const result = await removeImport(name, { ...base, registry, host: flags.host, trust: flags.trust });
  const what = `${result.provider}${result.host ? ` for ${result.host}` : ''}`;
  if (flags.json) outJson({ registryVersion: registry.version, ...result });
  if (result.removed.length === 0) {
    warn(`No file is imported for ${what}${result.host ? '' : ' (a file imported for one host needs --host)'}; nothing removed.`);
    return EXIT.failed;
  }
  warn(`Removed the file imported for ${what} (${result.removed.join(', ')}); pgcerts serves the provider's own source again.`);
  return EXIT.ok;
}

/** `pgcerts import <provider> <file>`: validate a user-supplied CA file and cache it. */
export async function runImport(registry: Registry, name: string, file: string, flags: { host?: string; trust?: string; json?: boolean }, base: BundleOptions): Promise<number> {
  const { importBundle } = await import('../fetch.js');
  // A URL or user:password@host given as --host is refused here, before any part of it is echoed.
  if (flags.host !== undefined) (await import('../connection.js')).parseHostPort(flags.host, '--host');
  const result = await importBundle(name, file, { ...base, registry, host: flags.host, trust: flags.trust });
  if (flags.json) outJson({ registryVersion: registry.version, result });
  else out(result.path);
  warn(describeResult(result));
  // A file of some regions' roots serves only hosts in those regions (see sslrootcert).
  const { importedRegions } = await import('../sources.js');
  const regions = flags.host === undefined ? importedRegions(registry.getProvider(result.provider), result.kept) : undefined;
  if (regions !== undefined) warn(`The file holds roots for ${regions.join(', ')}: it serves ${result.provider} hosts in ${regions.length === 1 ? 'that region' : 'those regions'}; hosts elsewhere keep their own bundle.`);
  for (const w of result.warnings) warn(w);
  return EXIT.ok;
}

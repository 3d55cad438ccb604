import type { Registry } from '../registry.js';
import type { ResolveOptions } from '../resolve.js';
import { EXIT, out, outJson, warn } from './output.js';

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** `pgcerts sslrootcert <host|url>`: the path of the right bundle. */
export async function runSslRootCert(registry: Registry, input: string, flags: { json?: boolean }, base: ResolveOptions): Promise<number> {
  const { getSslRootCert } = await import('../resolve.js');
  const resolved = await getSslRootCert(input, { ...base, registry });
  if (flags.json) outJson({ registryVersion: registry.version, ...resolved });
  else out(resolved.path);
  for (const w of resolved.warnings) warn(w);
  return EXIT.ok;
}

/** `pgcerts env <host|url>`: PGSSLMODE and PGSSLROOTCERT lines for `eval`. */
export async function runEnv(registry: Registry, input: string, flags: { json?: boolean }, base: ResolveOptions): Promise<number> {
  const { getSslRootCert } = await import('../resolve.js');
  const resolved = await getSslRootCert(input, { ...base, registry });
  const sslmode = resolved.sslmode === 'verify-ca' ? 'verify-ca' : 'verify-full';
  if (flags.json) {
    // The variables keep libpq's names: they are data, read as `jq -r .variables.PGSSLROOTCERT`.
    outJson({ registryVersion: registry.version, provider: resolved.provider, variables: { PGSSLMODE: sslmode, PGSSLROOTCERT: resolved.path } });
  } else {
    out(`export PGSSLMODE=${sslmode}`);
    out(`export PGSSLROOTCERT=${shellQuote(resolved.path)}`);
  }
  for (const w of resolved.warnings) warn(w);
  return EXIT.ok;
}

/** `pgcerts url <connection-url>`: the same string, verifying the server. */
export async function runUrl(registry: Registry, input: string, flags: { json?: boolean }, base: ResolveOptions): Promise<number> {
  const { getSslRootCert } = await import('../resolve.js');
  const { secureConnectionString } = await import('../connection.js');
  const resolved = await getSslRootCert(input, { ...base, registry });
  const url = secureConnectionString(input, resolved.path, resolved.sslmode === 'verify-ca' ? 'verify-ca' : 'verify-full');
  if (flags.json) outJson({ registryVersion: registry.version, url, sslrootcert: resolved.path, sslmode: resolved.sslmode === 'verify-ca' ? 'verify-ca' : 'verify-full', provider: resolved.provider });
  else out(url);
  for (const w of resolved.warnings) warn(w);
  return EXIT.ok;
}

import type { Registry } from '../registry.js';
import type { ResolveOptions } from '../resolve.js';
import type { ShapeFlags } from './bundle-output.js';
import { EXIT, out, outJson, warn } from './output.js';

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** `pgcerts sslrootcert <host|url>`: the path of the right bundle, or the bundle in another shape (`--format`). */
export async function runSslRootCert(registry: Registry, input: string, flags: ShapeFlags, base: ResolveOptions): Promise<number> {
  // The plain path (deploy scripts, every start) loads none of the shaping code.
  const shaping = flags.format !== undefined || flags.out !== undefined || flags.name !== undefined || flags.namespace !== undefined || flags.key !== undefined || flags.passwordFile !== undefined;
  const bundleOutput = shaping ? await import('./bundle-output.js') : undefined;
  const format = bundleOutput ? await bundleOutput.chooseFormat(flags) : 'path';
  const { getSslRootCert } = await import('../resolve.js');
  const resolved = await getSslRootCert(input, { ...base, registry });
  if (bundleOutput && format !== 'path') {
    const { readFileSync } = await import('node:fs');
    const refresh = `pgcerts sslrootcert ${resolved.host} --format ${format} | kubectl apply -f -`;
    const shaped = await bundleOutput.renderBundle(format, readFileSync(resolved.path, 'utf8'), { provider: resolved.provider, trust: resolved.trust, host: resolved.host, registryVersion: registry.version, refresh }, flags);
    await bundleOutput.emitBundle(shaped, flags);
  } else if (bundleOutput && flags.out !== undefined) {
    // --out without a shape: a copy of the PEM bundle, as `fetch --out` writes.
    const { readFileSync } = await import('node:fs');
    await bundleOutput.emitBundle(readFileSync(resolved.path, 'utf8'), flags);
  } else if (flags.json) {
    outJson({ registryVersion: registry.version, ...resolved });
  } else {
    out(resolved.path);
  }
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

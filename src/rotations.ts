// The registry's calendar of rotations (schema 1.2 `rotations`): once a date has passed, a
// registry whose pins were checked before it, or shipped roots built before it, may hold
// certificates the provider has replaced since. `pgcerts check` reports that as a WARNING.
import type { Registry } from './registry.js';
import type { Provider, Rotation } from './registry-types.js';
import { loadShippedRoots, type ShippedRoots } from './shipped-roots.js';

/** A rotation the registry or the shipped roots predate. */
export interface RotationWarning {
  code: 'registry-predates-rotation' | 'shipped-roots-predate-rotation';
  provider: string;
  /** The rotation's date, YYYY-MM-DD. */
  date: string;
  /** One sentence naming the rotation, the dates and the next step. */
  message: string;
}

/** The newest check date (YYYY-MM-DD) of the provider's pins of the rotation's trust entries, or of all its pins. */
function pinsChecked(provider: Provider, rotation: Rotation): string {
  const pins = provider.certificates.filter((pin) => pin.trust.some((id) => rotation.trust.includes(id)));
  return (pins.length > 0 ? pins : provider.certificates).reduce((newest, pin) => (pin.cite.checked > newest ? pin.cite.checked : newest), '');
}

/**
 * The rotations of the registry's calendar whose date has passed by `now` while the registry's
 * pins of that trust were last checked before it (the registry predates it), or, when the
 * registry does not, while the shipped roots were built from pins checked before it and lack a
 * certificate the registry pins for the rotation's trust entries. `shipped`
 * is a roots file, `false` to leave the shipped roots out, or the package's own by default; it is
 * read only when a rotation has passed.
 * @example findRotationWarnings(getBundledRegistry(), new Date('2027-02-01T00:00:00Z'))
 */
export function findRotationWarnings(registry: Registry, now: Date, shipped?: string | false): RotationWarning[] {
  const warnings: RotationWarning[] = [];
  let roots: ShippedRoots | undefined;
  for (const provider of registry.providers) {
    for (const rotation of provider.rotations ?? []) {
      if (Date.parse(`${rotation.date}T00:00:00Z`) > now.getTime()) continue;
      const what = `${provider.id} (${rotation.trust.join(', ')}) rotation of ${rotation.date}: ${rotation.text.replace(/\.$/, '')}`;
      const checked = pinsChecked(provider, rotation);
      if (checked < rotation.date) {
        warnings.push({
          code: 'registry-predates-rotation', provider: provider.id, date: rotation.date,
          message: `The pgcerts registry ${registry.version} predates the ${what}; its pins were last checked on ${checked}, so they may lack the new certificates. Update pgcerts (install a newer release tarball, or run \`git pull && npm ci\` in your clone) and fetch again, or set PGCERTS_NO_REGISTRY_AGE_WARNING=1.`,
        });
        continue;
      }
      if (shipped === false) continue;
      roots ??= loadShippedRoots(shipped);
      const built = roots.providers[provider.id];
      // Shipped roots serve only what the registry pins, so they fall short only where the
      // registry pins a certificate of the rotation that they lack.
      const lacking = provider.certificates.filter((pin) => pin.status === 'current' && pin.trust.some((id) => rotation.trust.includes(id)) && !roots?.bySha.has(pin.sha256));
      if (built !== undefined && built < rotation.date && lacking.length > 0) {
        warnings.push({
          code: 'shipped-roots-predate-rotation', provider: provider.id, date: rotation.date,
          message: `The roots shipped with pgcerts (registry ${roots.registryVersion}, ${provider.id} pins checked on ${built}) predate the ${what}, and lack ${lacking.length} certificate${lacking.length === 1 ? '' : 's'} the registry ${registry.version} pins for it (${lacking.slice(0, 3).map((p) => `"${p.subject.replace(/.*CN=/, '').replace(/,.*/, '')}"`).join(', ')}), so those bundles are downloaded, and --offline cannot build them. Run \`pgcerts fetch ${provider.id} --force\` while online, or update pgcerts (install a newer release tarball, or run \`git pull && npm ci\` in your clone).`,
        });
      }
    }
  }
  return warnings;
}

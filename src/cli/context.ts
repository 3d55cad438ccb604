import { getBundledRegistry, loadRegistry, type Registry } from '../registry.js';
import type { ShapeFlags } from './bundle-output.js';
import { warn } from './output.js';

let opened: Registry | undefined;

/** The registry named by PGCERTS_REGISTRY, else the bundled one; read once per run. */
export function openRegistry(): Registry {
  const path = process.env.PGCERTS_REGISTRY;
  opened ??= path ? loadRegistry(path) : getBundledRegistry();
  return opened;
}

/** Warnings already shown while work was in progress, so summaries do not repeat them. */
export const shownWarnings = new Set<string>();

/** PGCERTS_NO_SHIPPED_ROOTS set (and not `0`): every bundle comes from a download or the cache, never from the package. */
export function noShippedRoots(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.PGCERTS_NO_SHIPPED_ROOTS ?? '';
  return value !== '' && value !== '0';
}

/** Options every fetching command takes from the environment. */
export function baseOptions(): { registry: Registry; mirror?: string; shippedRoots?: false; onWarning: (m: string) => void } {
  return { registry: openRegistry(), ...environmentOptions() };
}

/** {@link baseOptions} but the registry, for a command that opens it later (`probe`, while it waits for the server). */
export function environmentOptions(): { mirror?: string; shippedRoots?: false; onWarning: (m: string) => void } {
  return {
    mirror: process.env.PGCERTS_MIRROR || undefined,
    shippedRoots: noShippedRoots() ? false : undefined,
    onWarning: (message) => {
      shownWarnings.add(message);
      warn(message);
    },
  };
}

/** The commands that run in deploy scripts, on every start: `pgcerts <command> <input> [--json]`. */
export const HOT_COMMANDS = ['lookup', 'sslrootcert', 'env', 'url'] as const;
export type HotCommand = (typeof HOT_COMMANDS)[number];

/** Flags the hot commands take (commander passes numbers as strings); `sslrootcert` also takes the bundle shapes. */
export interface HotFlags extends ShapeFlags {
  json?: boolean;
  offline?: boolean;
  /** Seconds for the whole download, when one is needed. */
  timeout?: string;
}

/**
 * Run one of the hot commands; the same code serves commander's actions and the fast path.
 * Without an input, the host comes from PGHOST (PGPORT) and a connection string from DATABASE_URL.
 */
export async function runHotCommand(command: HotCommand, input: string | undefined, flags: HotFlags): Promise<number> {
  if (input === undefined) {
    const defaults = await import('./defaults.js');
    input = command === 'url' ? defaults.defaultConnectionInput(command) : defaults.defaultHostInput(command);
  }
  if (command === 'lookup') {
    const { runLookup } = await import('./lookup.js');
    return runLookup(openRegistry(), input, flags);
  }
  const resolve = await import('./resolve.js');
  const run = command === 'sslrootcert' ? resolve.runSslRootCert : command === 'env' ? resolve.runEnv : resolve.runUrl;
  let download;
  if (flags.timeout !== undefined) {
    const { downloadFlags } = await import('./fetch.js');
    download = downloadFlags({ timeout: flags.timeout });
  }
  return run(openRegistry(), input, flags, { ...baseOptions(), offline: flags.offline, download });
}

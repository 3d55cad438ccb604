// The account providers pgcerts can fetch CAs from, by registry provider id. Loaded only for
// hosts whose CA belongs to an account: nothing on the path of other hosts imports this folder.
import { aiven } from './aiven.js';
import { cockroachdb } from './cockroachdb.js';
import { crunchyBridge } from './crunchy-bridge.js';
import { digitalocean } from './digitalocean.js';
import type { AccountCredential, AccountProvider } from './provider.js';

export type { AccountApi, AccountCredential, AccountProvider, AccountResource, ResourceSearch } from './provider.js';
export { createAccountApi, type AccountApiOptions } from './api.js';

/** Every account provider, sorted by id. */
export const ACCOUNT_PROVIDERS: readonly AccountProvider[] = [aiven, cockroachdb, crunchyBridge, digitalocean];

/** The account provider for a registry provider id, or `undefined` when pgcerts has none for it. */
export function findAccountProvider(id: string): AccountProvider | undefined {
  return ACCOUNT_PROVIDERS.find((p) => p.id === id);
}

/** The first of the provider's token variables set to a non-empty value, with its token. */
export function findCredential(provider: AccountProvider, env: NodeJS.ProcessEnv): AccountCredential | undefined {
  for (const variable of provider.tokenVariables) {
    const token = env[variable]?.trim();
    if (token) return { variable, token };
  }
  return undefined;
}

/** `A` or `A (or B)`: the variables a provider reads, for messages. */
export function describeTokenVariables(provider: AccountProvider): string {
  const [first, ...rest] = provider.tokenVariables;
  return rest.length === 0 ? `${first}` : `${first} (or ${rest.join(', ')})`;
}

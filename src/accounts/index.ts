// The account providers pgcerts can fetch CAs from, by registry provider id. Loaded only for
// hosts whose CA belongs to an account: nothing on the path of other hosts imports this folder.
import { aiven } from './aiven.js';
import { alloydb } from './alloydb.js';
import { cloudsql } from './cloudsql.js';
import { cockroachdb } from './cockroachdb.js';
import { crunchyBridge } from './crunchy-bridge.js';
import { digitalocean } from './digitalocean.js';
import { linode } from './linode.js';
import { scalewayRdb } from './scaleway-rdb.js';
import { yugabyte } from './yugabyte.js';
import type { AccountCredential, AccountProvider, CredentialContext } from './provider.js';

export type { AccountApi, AccountCredential, AccountProvider, AccountResource, CredentialContext, FetchedCa, ResourceSearch } from './provider.js';
export { createAccountApi, type AccountApiOptions } from './api.js';

/** Every account provider, sorted by id. */
export const ACCOUNT_PROVIDERS: readonly AccountProvider[] = [aiven, alloydb, cloudsql, cockroachdb, crunchyBridge, digitalocean, linode, scalewayRdb, yugabyte];

/** The account provider for a registry provider id, or `undefined` when pgcerts has none for it. */
export function findAccountProvider(id: string): AccountProvider | undefined {
  return ACCOUNT_PROVIDERS.find((p) => p.id === id);
}

/** The first of the provider's token variables set to a non-empty value, with its token. */
function findVariable(provider: AccountProvider, env: NodeJS.ProcessEnv): AccountCredential | undefined {
  for (const variable of provider.tokenVariables) {
    const token = env[variable]?.trim();
    if (token) return { variable, token };
  }
  return undefined;
}

/**
 * The provider's token: from its own credential chain where it has one (Google), else the first
 * of its token variables that is set. `undefined` when there is none.
 * @throws PgcertsError `AUTH_FAILED`, `NO_SOURCE` from a credential chain whose sources fail.
 */
export async function getCredential(provider: AccountProvider, context: CredentialContext): Promise<AccountCredential | undefined> {
  return provider.getCredential ? provider.getCredential(context) : findVariable(provider, context.env);
}

/** Where the provider's token would come from (variable, tool or file), without reading or running anything secret. */
export function describeCredential(provider: AccountProvider, env: NodeJS.ProcessEnv, homeDir?: string): { variable: string; label: string } | undefined {
  if (provider.describeCredential) return provider.describeCredential(env, homeDir);
  const found = findVariable(provider, env);
  return found && { variable: found.variable, label: `in ${found.variable}` };
}

/** `the token in X` / `the token from gcloud ...`, for messages. */
export function tokenLabel(credential: AccountCredential): string {
  return credential.label ?? `in ${credential.variable}`;
}

/**
 * How to give pgcerts a token, as a clause starting with a verb: `set A (or B) to <help>`, or, for
 * providers with their own credential chain (Google), `give pgcerts <help>`.
 */
export function describeTokenSetup(provider: AccountProvider): string {
  return provider.getCredential ? `give pgcerts ${provider.tokenHelp}` : `set ${describeTokenVariables(provider)} to ${provider.tokenHelp}`;
}

/** `A` or `A (or B)`: the variables a provider reads, for messages. */
export function describeTokenVariables(provider: AccountProvider): string {
  const [first, ...rest] = provider.tokenVariables;
  return rest.length === 0 ? `${first}` : `${first} (or ${rest.join(', ')})`;
}

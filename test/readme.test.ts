// The README's provider table is generated from the registry and the account providers; it must
// match what this build would generate (regenerate with `node scripts/provider-table.mjs --write`).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ACCOUNT_PROVIDERS } from '../src/accounts/index.js';
import { getBundledRegistry } from '../src/registry.js';
// @ts-expect-error: a plain ES module script without type declarations.
import { readmeTable, renderProviderTable } from '../scripts/provider-table.mjs';

describe('README provider table', () => {
  const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');

  it('lists every provider as the registry and the account code say, with no drift', () => {
    const expected = renderProviderTable(getBundledRegistry(), ACCOUNT_PROVIDERS) as string;
    expect(readmeTable(readme), 'run `node scripts/provider-table.mjs --write`').toBe(expected);
    for (const provider of getBundledRegistry().providers) expect(expected).toContain(`| \`${provider.id}\` |`);
  });

  it('says which account providers have an API path and names their token variables', () => {
    const table = readmeTable(readme) as string;
    for (const account of ACCOUNT_PROVIDERS) {
      const row = table.split('\n').find((line: string) => line.startsWith(`| \`${account.id}\` |`));
      expect(row, account.id).toContain(`through ${account.via ?? `the ${account.name} API`}`);
      expect(row).toContain(account.credentialHint ?? `\`${account.tokenVariables[0]}\``);
    }
  });
});

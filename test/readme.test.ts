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

describe('README install instructions', () => {
  const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
  // ```console blocks are transcripts of output, not instructions.
  const instructions = readme.replace(/```console\n[\s\S]*?```/g, '');
  const pinned = /\.tgz\b|git\+https:\/\/github\.com\/pgcerts\/pgcerts\.git#v\d+\.\d+\.\d+\b/;

  it('installs pgcerts only from a pinned tarball or git tag, in every recipe, never by its registry name', () => {
    const blocks = [...instructions.matchAll(/```[a-z]*\n([\s\S]*?)```/g)].map((m) => m[1] as string);
    const installs = blocks.flatMap((block) => [...block.matchAll(/\bnpm (?:install|i|add)\b[^\n]*/g)].map((m) => m[0]));
    expect(installs.length).toBeGreaterThanOrEqual(5);
    for (const line of installs) expect(line).toMatch(pinned);
    const spans = [...instructions.matchAll(/`([^`\n]*\bnpm (?:install|i|add)\b[^`\n]*)`/g)].map((m) => m[1] as string).filter((span) => span.includes('pgcerts'));
    for (const span of spans) expect(span).toMatch(pinned);
    expect(instructions).not.toMatch(/\bnpx\b/);
    expect(instructions).not.toMatch(/pgcerts@(?:\d|latest|next)/);
  });

  it('recipes run the installed pgcerts: cron, systemd, Kubernetes, GitHub Actions and the Dockerfile', () => {
    expect(instructions).toContain('RUN npm install -g /tmp/pgcerts-0.1.0.tgz');
    expect(instructions).toContain('command: ["pgcerts", "check", "--json",');
    expect(instructions).toContain('- run: cd .pgcerts && npm ci && npm pack && npm install -g ./pgcerts-0.1.0.tgz');
    expect(instructions).toContain('ExecStart=/usr/local/bin/pgcerts check');
  });
});

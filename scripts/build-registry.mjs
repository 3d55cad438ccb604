#!/usr/bin/env node
// Validate registry/providers/*.json (JSON Schema + cross-reference checks) and build the single
// sorted file the code loads, registry/registry.json.
//   node scripts/build-registry.mjs          write registry/registry.json
//   node scripts/build-registry.mjs --check  fail when the committed file differs from a fresh build
//   --registry-dir DIR                        another copy of registry/
// Needs `npm run build` first (it reuses the checks in dist/registry-check.js).
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync, renameSync, existsSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// --registry-dir DIR: build another copy of registry/ (the refresh script's tests use one).
const dirFlag = process.argv.indexOf('--registry-dir');
const registryDir = dirFlag === -1 ? join(root, 'registry') : resolve(process.argv[dirFlag + 1]);
const outFile = join(registryDir, 'registry.json');
const check = process.argv.includes('--check');

function fail(lines) {
  for (const line of lines) process.stderr.write(`build-registry: ${line}\n`);
  process.exit(1);
}

const { checkProviders } = await import(join(root, 'dist', 'registry-check.js')).catch(() =>
  fail(['dist/registry-check.js is missing: run `npm run build` first.']),
);

const readJson = (file) => {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    return fail([`${file}: ${error.message}`]);
  }
};

const providerSchema = readJson(join(registryDir, 'provider.schema.json'));
const registrySchema = readJson(join(registryDir, 'registry.schema.json'));
const meta = readJson(join(registryDir, 'meta.json'));
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
ajv.addSchema(providerSchema, 'provider.schema.json');
const validateProvider = ajv.getSchema('provider.schema.json');

const problems = [];
const providers = [];
for (const name of readdirSync(join(registryDir, 'providers')).sort()) {
  if (!name.endsWith('.json')) continue;
  const file = join(registryDir, 'providers', name);
  const data = readJson(file);
  if (!validateProvider(data)) {
    for (const e of validateProvider.errors) problems.push(`${file}: ${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
    continue;
  }
  if (`${data.id}.json` !== name) problems.push(`${file}: id "${data.id}" does not match the file name`);
  delete data.$schema;
  providers.push(data);
}
problems.push(...checkProviders(providers));
if (problems.length) fail(problems);

providers.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
const contentSha256 = createHash('sha256').update(JSON.stringify(providers)).digest('hex');
const built = { schemaVersion: meta.schemaVersion, version: meta.version, contentSha256, providers };
const validateRegistry = ajv.compile(registrySchema);
if (!validateRegistry(built)) fail(validateRegistry.errors.map((e) => `built registry: ${e.instancePath} ${e.message}`));
// Compact, one provider per line: the CLI parses this file on every start (see BENCHMARKS.md), and
// reviewers read the provider files, not this one.
const { providers: _all, ...head } = built;
const text = `${JSON.stringify(head).slice(0, -1)},"providers":[\n${providers.map((p) => JSON.stringify(p)).join(',\n')}\n]}\n`;
JSON.parse(text);

const previous = existsSync(outFile) ? JSON.parse(readFileSync(outFile, 'utf8')) : undefined;
if (previous && previous.contentSha256 !== contentSha256 && previous.version === meta.version) {
  fail([`the provider data changed but registry/meta.json still says version ${meta.version}; bump it (see README, Versioning).`]);
}
if (check) {
  if (!previous || readFileSync(outFile, 'utf8') !== text) {
    fail(['registry/registry.json is stale: run `npm run registry:build` and commit the result.']);
  }
  process.stdout.write(`registry ${meta.version}: ${providers.length} providers, build is fresh\n`);
} else {
  const tmp = `${outFile}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, outFile);
  process.stdout.write(`registry ${meta.version}: ${providers.length} providers written to registry/registry.json\n`);
}

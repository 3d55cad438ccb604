#!/usr/bin/env node
// Bundle the CLI into one CommonJS file, dist/pgcerts.cjs (the package's bin).
// Why: `pgcerts sslrootcert` and `pgcerts lookup` run on every deploy, and Node's ESM loader plus
// one file per module cost more start-up time than the command itself (see BENCHMARKS.md). The
// library stays ESM (dist/index.js). Dependencies stay external and are loaded only when needed.
import { build } from 'esbuild';
import { chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, 'dist', 'pgcerts.cjs');
const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['commander', 'undici', 'node-forge', 'semver', 'ajv', 'ret'],
  // import.meta.url does not exist in CommonJS; give the bundle the file's own URL instead.
  define: { 'import.meta.url': '__pgcerts_file_url' },
  banner: { js: "const __pgcerts_file_url = require('node:url').pathToFileURL(__filename).href;" },
  minifyWhitespace: true,
  logLevel: 'warning',
};
await build({ ...common, entryPoints: [join(root, 'src', 'cli', 'main.ts')], outfile });
chmodSync(outfile, 0o755);
// The worker threads of a long `check` (src/check-workers.ts), beside both the CLI and the
// library's dist/check-workers.js, which start it as ./check-worker.cjs.
await build({ ...common, entryPoints: [join(root, 'src', 'check-worker.ts')], outfile: join(root, 'dist', 'check-worker.cjs') });

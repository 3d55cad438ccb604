// Preloaded with `node --import`: on exit, print to stderr which heavy packages were loaded, so a
// test can check that a command's fast path never loads them.
import { createRequire } from 'node:module';

const cache = createRequire(import.meta.url).cache;
process.on('exit', () => {
  const loaded = new Set();
  for (const file of Object.keys(cache)) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file);
    if (m) loaded.add(m[1]);
  }
  process.stderr.write(`loaded-packages: ${[...loaded].sort().join(',')}\n`);
});

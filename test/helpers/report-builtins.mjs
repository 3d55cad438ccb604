// Preloaded with `node --import`: on exit, print to stderr which public Node built-in modules were
// loaded, so a test can check that a command's fast path never loads node:crypto, node:net, ...
// Written with writeSync: process.stderr itself would load node:net (pipe) or node:tty.
import { writeSync } from 'node:fs';

process.on('exit', () => {
  const loaded = process.moduleLoadList
    .filter((entry) => entry.startsWith('NativeModule ') && !entry.startsWith('NativeModule internal/'))
    .map((entry) => entry.slice('NativeModule '.length));
  writeSync(2, `loaded-builtins: ${[...new Set(loaded)].sort().join(',')}\n`);
});

// Preloaded with `node --import`: on exit, print to stderr every ES module URL the process
// resolved, so a test can check that a library call never loads some of pgcerts' own files.
import { writeSync } from 'node:fs';
import { register } from 'node:module';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';

const { port1, port2 } = new MessageChannel();
port1.unref();
register('./esm-resolve-hook.mjs', import.meta.url, { data: { port: port2 }, transferList: [port2] });
process.on('exit', () => {
  const urls = new Set();
  for (let m = receiveMessageOnPort(port1); m; m = receiveMessageOnPort(port1)) urls.add(m.message);
  writeSync(2, `loaded-modules: ${[...urls].sort().join(',')}\n`);
});

// A worker thread of `pgcerts check` (see check-workers.ts): probes the hosts the main thread
// sends, with its share of the concurrency, and sends back each host's target and rows.
import { parentPort, workerData } from 'node:worker_threads';
import { createHostChecker } from './check.js';
import type { FromWorker, ToWorker, WorkerSetup } from './check-workers.js';
import { PgcertsError } from './errors.js';
import { createLimiter } from './limiter.js';
import { loadRegistry } from './registry.js';

const port = parentPort;
if (!port) throw new Error('check-worker runs as a worker thread of pgcerts check');
const setup = workerData as WorkerSetup;
const send = (message: FromWorker): void => port.postMessage(message);

function fail(error: unknown): void {
  send({ type: 'error', code: error instanceof PgcertsError ? error.code : undefined, message: error instanceof Error ? error.message : String(error) });
}

try {
  const registry = loadRegistry(setup.registryPath);
  if (registry.contentSha256 !== setup.registrySha256) {
    throw new Error(`The registry "${setup.registryPath}" changed while pgcerts check ran; run it again.`);
  }
  const check = createHostChecker({ ...setup.options, registry, now: new Date(setup.options.now) });
  const limiter = createLimiter(setup.concurrency);
  port.on('message', (message: ToWorker) => {
    if (message.type === 'end') {
      port.close();
      return;
    }
    for (const { index, spec } of message.batch) {
      limiter.run(() => check(spec)).then((result) => send({ type: 'result', index, result }), fail);
    }
  });
} catch (error) {
  fail(error);
}

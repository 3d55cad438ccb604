// The probes of a long host list spread over worker threads when asked (`workers`): a probe is a
// few milliseconds of CPU (the TCP and TLS handshakes, most of it Node's and OpenSSL's), so one
// thread caps a check at a few hundred servers a second however far away they are. Each worker
// runs src/check-worker.ts (bundled as dist/check-worker.cjs) with its share of the concurrency
// and asks for more hosts as it finishes; results come back in the order of the list. Not the
// default: on this project's two-core machine, with the servers on the same cores, two workers
// took as long as one thread and a quarter more CPU (BENCHMARKS.md); they pay where the checker
// has cores to spare.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CheckHost, CheckOptions, HostCheck } from './check.js';
import { PgcertsError, type ErrorCode } from './errors.js';

/** What a worker needs, all of it plain data (structured-cloneable). */
export interface WorkerSetup {
  registryPath: string;
  registrySha256: string;
  concurrency: number;
  options: Pick<CheckOptions, 'hostaddr' | 'sslrootcert' | 'timeoutMs' | 'warnDays' | 'criticalDays' | 'cacheDir' | 'mirror' | 'download' | 'shippedRoots'> & { now: string; warnDays: number; criticalDays: number };
}

/** Main thread to worker. */
export type ToWorker = { type: 'hosts'; batch: Array<{ index: number; spec: CheckHost }> } | { type: 'end' };
/** Worker to main thread. */
export type FromWorker =
  | { type: 'result'; index: number; result: HostCheck }
  | { type: 'error'; code: string | undefined; message: string };

export interface WorkerPlan {
  count: number;
  script: string;
  setup: WorkerSetup;
}

/**
 * Whether, and over how many threads, `runChecks` spreads these hosts: `options.workers` (default
 * 1, this thread), no more than there are hosts or probes in flight. Only when the options can be
 * handed over: a registry read from a file, a concurrency
 * that is a number (a shared limiter stays here), download options without functions, and the
 * worker script beside this module (it is not, when running from the TypeScript sources).
 * @throws PgcertsError `INVALID_INPUT` when `workers` is not a whole number from 1 to 64.
 */
export function planWorkers(options: CheckOptions & { registry: { path: string | undefined; contentSha256: string }; now: Date; warnDays: number; criticalDays: number }, hosts: number, concurrency: number): WorkerPlan | undefined {
  const asked = options.workers;
  if (asked !== undefined && (!Number.isInteger(asked) || asked < 1 || asked > 64)) {
    throw new PgcertsError('INVALID_INPUT', `workers "${asked}" is not a whole number from 1 to 64; give 1 to probe on this thread only.`);
  }
  const count = Math.min(asked ?? 1, hosts, concurrency);
  if (count < 2 || typeof options.concurrency === 'object' || options.registry.path === undefined) return undefined;
  try {
    structuredClone(options.download);
  } catch {
    return undefined;
  }
  const script = fileURLToPath(new URL('./check-worker.cjs', import.meta.url));
  if (!existsSync(script)) return undefined;
  return {
    count,
    script,
    setup: {
      registryPath: options.registry.path,
      registrySha256: options.registry.contentSha256,
      concurrency: Math.ceil(concurrency / count),
      options: {
        hostaddr: options.hostaddr, sslrootcert: options.sslrootcert, timeoutMs: options.timeoutMs, warnDays: options.warnDays, criticalDays: options.criticalDays,
        cacheDir: options.cacheDir, mirror: options.mirror, download: options.download, shippedRoots: options.shippedRoots, now: options.now.toISOString(),
      },
    },
  };
}

/**
 * Check `specs` in `plan.count` worker threads; the results in the order of `specs`. The first
 * error a worker reports (bad input, such as an unreadable `sslrootcert`) rejects, as it would on
 * one thread, and stops the others.
 */
export async function checkHostsInWorkers(specs: CheckHost[], plan: WorkerPlan): Promise<HostCheck[]> {
  const { Worker } = await import('node:worker_threads');
  const results = new Array<HostCheck | undefined>(specs.length);
  let received = 0;
  let next = 0;
  // Each worker holds twice its concurrency, so that it never waits for the main thread.
  const batchSize = Math.max(1, Math.min(plan.setup.concurrency, 32));
  const window = 2 * plan.setup.concurrency;
  const workers: Array<{ worker: import('node:worker_threads').Worker; outstanding: number }> = [];
  return new Promise<HostCheck[]>((resolve, reject) => {
    let settled = false;
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      for (const { worker } of workers) {
        if (error) void worker.terminate();
        else {
          worker.postMessage({ type: 'end' } satisfies ToWorker);
          worker.unref();
        }
      }
      if (error) reject(error);
      else resolve(results as HostCheck[]);
    };
    const feed = (slot: (typeof workers)[number]): void => {
      while (slot.outstanding < window && next < specs.length) {
        const batch = specs.slice(next, next + batchSize).map((spec, i) => ({ index: next + i, spec }));
        next += batch.length;
        slot.outstanding += batch.length;
        slot.worker.postMessage({ type: 'hosts', batch } satisfies ToWorker);
      }
    };
    for (let i = 0; i < plan.count; i++) {
      const worker = new Worker(plan.script, { workerData: plan.setup });
      const slot = { worker, outstanding: 0 };
      workers.push(slot);
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'error') {
          finish(message.code === undefined ? new Error(message.message) : new PgcertsError(message.code as ErrorCode, message.message));
          return;
        }
        results[message.index] = message.result;
        slot.outstanding--;
        received++;
        if (received === specs.length) finish();
        else feed(slot);
      });
      worker.on('error', (error) => finish(error));
      worker.on('exit', (code) => {
        if (!settled) finish(new Error(`A check worker stopped (exit code ${code}) before its hosts were checked; run with --workers 1 to check on one thread.`));
      });
      feed(slot);
    }
  });
}

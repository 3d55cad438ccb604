// A separate process that writes to a BundleCache, for the crash and concurrency tests in
// test/cache.test.ts. Usage: node cache-writer.mjs '<job JSON>'
//   dir, key        the cache and key to write
//   files           PEM files to write in turn; entry i gets etag "i"
//   iterations      how many writes
//   killAt          a CacheWriteStep at which the process SIGKILLs itself
//   jitterMs        sleep up to this long at every step, to vary interleavings
//   waitForGo       print "ready" and wait for a line on stdin before writing
// Prints "wrote <i>" after each write, "error <JSON>" and exits 1 on failure.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const { BundleCache } = await import(new URL('../../dist/cache.js', import.meta.url).href);

const job = JSON.parse(process.argv[2]);
const contents = job.files.map((file) => readFileSync(file, 'utf8'));
const cache = new BundleCache(job.dir, {
  lockTimeoutMs: job.lockTimeoutMs ?? 20_000,
  onWriteStep: async (step) => {
    if (step === job.killAt) process.kill(process.pid, 'SIGKILL');
    if (job.jitterMs) await new Promise((resolve) => setTimeout(resolve, Math.random() * job.jitterMs));
  },
});

if (job.waitForGo) {
  process.stdout.write('ready\n');
  const lines = createInterface({ input: process.stdin });
  await new Promise((resolve) => lines.once('line', resolve));
  lines.close();
} else {
  process.stdout.write('ready\n');
}

try {
  for (let i = 0; i < job.iterations; i++) {
    const index = i % contents.length;
    await cache.write(job.key, contents[index], {
      url: 'https://example.test/bundle.pem',
      fetchedAt: new Date().toISOString(),
      etag: `"${job.etagPrefix ?? ''}${index}"`,
      registryVersion: 'test',
      certificates: [],
    });
    process.stdout.write(`wrote ${index}\n`);
  }
} catch (error) {
  process.stdout.write(`error ${JSON.stringify({ code: error.code, message: error.message })}\n`);
  process.exitCode = 1;
}

import { EXIT, out, outJson } from './output.js';

/** `pgcerts credentials`: the variable each account provider's token would come from, never the token. */
export async function runCredentials(flags: { json?: boolean }, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { describeAccountCredentials } = await import('../fetch.js');
  const providers = await describeAccountCredentials(env);
  if (flags.json) {
    const { openRegistry } = await import('./context.js');
    outJson({ registryVersion: openRegistry().version, providers });
  } else {
    const width = Math.max(...providers.map((p) => p.provider.length));
    for (const p of providers) {
      out(`${p.provider.padEnd(width)}  ${p.source === null ? `none (${p.hint})` : p.source === `in ${p.variable}` ? p.variable : `${p.variable}: ${p.source}`}`);
    }
  }
  return EXIT.ok;
}

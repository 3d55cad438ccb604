// Provider CLIs pgcerts runs (gcloud, ybm): finding them on PATH, and saying why one failed
// without repeating anything secret it may have printed.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The first executable of these names on the environment's PATH, or `undefined`. */
export function findOnPath(names: readonly string[], env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    for (const name of names) {
      const path = join(dir, name);
      try {
        accessSync(path, constants.X_OK);
        return path;
      } catch {
        // Not here.
      }
    }
  }
  return undefined;
}

/** The outcome of {@link runTool}: its stdout, or why it failed, in words. */
export type ToolRun = { ok: true; stdout: string } | { ok: false; failure: string };

/**
 * Run a CLI without a shell. A failure is described by how it ended and the first stderr line
 * that `skip` does not drop, cut to 160 characters, with the values of the variables named in
 * `secretVariables` (the tool's own API key) replaced by `***`, should the tool print them.
 */
export function runTool(path: string, args: readonly string[], options: { env: NodeJS.ProcessEnv; timeoutMs: number; maxBuffer: number; secretVariables?: readonly string[]; skip?: RegExp }): Promise<ToolRun> {
  return new Promise((resolve) => {
    execFile(path, args, { env: options.env, timeout: options.timeoutMs, maxBuffer: options.maxBuffer, windowsHide: true }, (error, stdout, stderr) => {
      if (!error) return resolve({ ok: true, stdout: String(stdout) });
      let line = String(stderr).split('\n').map((l) => l.trim()).find((l) => l !== '' && !options.skip?.test(l)) ?? '';
      for (const variable of options.secretVariables ?? []) {
        const secret = options.env[variable]?.trim();
        if (secret) line = line.split(secret).join('***');
      }
      const said = line === '' ? '' : `: ${JSON.stringify(line.length > 160 ? `${line.slice(0, 160)}...` : line)}`;
      const how = (error as { killed?: boolean }).killed ? `it did not finish within ${options.timeoutMs / 1000} s` : `it exited with ${String((error as { code?: unknown }).code ?? 'an error')}`;
      resolve({ ok: false, failure: `${how}${said}` });
    });
  });
}

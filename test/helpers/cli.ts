// Run the built CLI as a child process without blocking the event loop, so servers started by the
// same test process keep answering.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** The package's bin (the bundled CLI). */
export const BIN = join(import.meta.dirname, '..', '..', 'dist', 'pgcerts.cjs');

export interface CliRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Environment for CLI runs: the caller's, without pgcerts or proxy settings that would leak in. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const name of Object.keys(env)) {
    if (name.startsWith('PGCERTS_') || /^(https?|all|no)_proxy$/i.test(name) || name === 'NODE_EXTRA_CA_CERTS') delete env[name];
  }
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** Run `pgcerts ...args`; resolves when the process exits. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, options: { killAfterMs?: number; cwd?: string } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = options.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

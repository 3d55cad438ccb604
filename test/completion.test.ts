// `pgcerts completion`: the script parses in bash and completes commands, options and provider
// ids when bash runs it the way it runs completion functions (COMP_WORDS, COMP_CWORD).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cleanEnv, runCli } from './helpers/cli.js';

async function complete(shell: 'bash' | 'zsh', words: string[]): Promise<string[]> {
  const script = (await runCli(['completion', shell], cleanEnv())).stdout;
  const line = words.map((w) => `'${w}'`).join(' ');
  // zsh's script loads bashcompinit first; bash runs the same function directly.
  const source = shell === 'bash' ? script : script.replace(/^autoload .*$/m, '');
  const run = spawnSync('bash', ['-c', `${source}\nCOMP_WORDS=(${line}); COMP_CWORD=${words.length - 1}; _pgcerts; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: 'utf8' });
  expect(run.stderr).toBe('');
  return run.stdout.split('\n').filter(Boolean);
}

describe('pgcerts completion', () => {
  it('completes commands, each command\'s options and provider ids, from the program and the registry', async () => {
    expect(await complete('bash', ['pgcerts', 'f'])).toEqual(['fetch']);
    expect(await complete('bash', ['pgcerts', 'fetch', '--q'])).toEqual(['--quiet']);
    expect(await complete('bash', ['pgcerts', 'check', '--pro'])).toEqual(['--problems-only']);
    expect(await complete('bash', ['pgcerts', 'fetch', 'rd'])).toEqual(['rds', 'rds-proxy']);
    expect(await complete('bash', ['pgcerts', 'show', 'cloud-s'])).toEqual(['cloud-sql']);
    expect(await complete('zsh', ['pgcerts', 'probe', '--host'])).toEqual(['--hostaddr']);
  });

  it('parses in bash, and refuses another shell (exit 2)', async () => {
    for (const shell of ['bash', 'zsh']) {
      const script = (await runCli(['completion', shell], cleanEnv())).stdout;
      expect(spawnSync('bash', ['-n'], { input: script.replace(/^autoload .*$/m, ''), encoding: 'utf8' }).status, shell).toBe(0);
    }
    expect(await runCli(['completion', 'zsh'], cleanEnv())).toMatchObject({ status: 0 });
    const fish = await runCli(['completion', 'fish'], cleanEnv());
    expect(fish.status).toBe(2);
    expect(fish.stderr).toContain('pgcerts completion takes "bash" or "zsh", not "fish"');
  });
});

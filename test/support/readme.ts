import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { REPO_ROOT } from '@turnstream/testkit';

/** The README's curl session (the first sh block after "## A conversation with curl"), literally. */
export function readmeCurlSession(): string {
  const readme = readFileSync(`${REPO_ROOT}README.md`, 'utf8');
  const section = readme.slice(readme.indexOf('## A conversation with curl'));
  const match = /```sh\n([\s\S]*?)```/.exec(section);
  if (!match) throw new Error('README has no curl session');
  return match[1]!;
}

/** Run a script with `bash -euo pipefail`; resolves with its exit code and output. */
export function runBash(
  script: string,
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const sh = spawn('bash', ['-euo', 'pipefail', '-c', script], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    sh.stdout.on('data', (d) => (stdout += d));
    sh.stderr.on('data', (d) => (stderr += d));
    sh.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

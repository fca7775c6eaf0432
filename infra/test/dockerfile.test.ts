import { readFileSync } from 'node:fs';
import { ValidationSeverity, validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';

// No Docker engine here: the Dockerfile is linted (dockerfile-utils, the validator of the Docker
// language server; hadolint has neither an npm nor a Debian package) and its promises are checked.
const ROOT = new URL('../../', import.meta.url).pathname;
const dockerfile = readFileSync(`${ROOT}infra/docker/Dockerfile`, 'utf8');
const dockerignore = readFileSync(`${ROOT}.dockerignore`, 'utf8').split('\n');

/** Instructions with their arguments, continuation lines joined, comments dropped. */
function instructions(): Array<{ op: string; args: string }> {
  return dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
}

function finalStage(): Array<{ op: string; args: string }> {
  const all = instructions();
  const lastFrom = all.map((i) => i.op).lastIndexOf('FROM');
  return all.slice(lastFrom);
}

describe('infra/docker/Dockerfile', () => {
  it('has no lint findings, warnings included', () => {
    const every = {
      deprecatedMaintainer: ValidationSeverity.ERROR,
      directiveCasing: ValidationSeverity.ERROR,
      emptyContinuationLine: ValidationSeverity.ERROR,
      instructionCasing: ValidationSeverity.ERROR,
      instructionCmdMultiple: ValidationSeverity.ERROR,
      instructionEntrypointMultiple: ValidationSeverity.ERROR,
      instructionHealthcheckMultiple: ValidationSeverity.ERROR,
      instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
      instructionWorkdirRelative: ValidationSeverity.ERROR,
    };
    const findings = validate(dockerfile, every).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
    expect(findings).toEqual([]);
  });

  it('builds in one stage and runs on the Node LTS slim image in another', () => {
    const froms = instructions().filter((i) => i.op === 'FROM');
    expect(froms).toHaveLength(2);
    expect(froms[0]!.args).toMatch(/ AS build$/);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:24-bookworm-slim$/m);
    expect(froms.every((f) => f.args.startsWith('$' + '{NODE_IMAGE}'))).toBe(true);
  });

  it('ships production dependencies only, bundled JavaScript, run by node as a non-root user', () => {
    expect(dockerfile).toMatch(/pnpm --filter @turnstream\/image deploy --prod/);
    const final = finalStage();
    const copies = final.filter((i) => i.op === 'COPY');
    expect(copies.map((c) => c.args)).toEqual(['--from=build /out /app']);
    expect(final.find((i) => i.op === 'USER')?.args).toBe('node');
    expect(final.find((i) => i.op === 'ENTRYPOINT')?.args).toBe('["node", "dist/main.js"]');
    expect(final.map((i) => i.args).join('\n')).not.toMatch(/tsx|pnpm install/);
  });

  it('checks its health with the process it runs', () => {
    expect(finalStage().find((i) => i.op === 'HEALTHCHECK')?.args).toMatch(
      /CMD \["node", "dist\/main\.js", "healthcheck"\]$/,
    );
  });

  it('keeps installed and built files out of the build context', () => {
    for (const entry of ['**/node_modules', '.git', '.turnstream', '**/dist', '.env']) {
      expect(dockerignore).toContain(entry);
    }
  });
});

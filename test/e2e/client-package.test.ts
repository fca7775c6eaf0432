import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simReplyTo } from '../support/stream-events.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { history } from '../support/turns.ts';

// Issue 11 acceptance: the client packed, installed with npm into a project outside the workspace, and
// the example service run there against the real system.
const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const contracts = join(root, 'packages/contracts');
const tsc = join(root, 'node_modules/typescript/bin/tsc');

const sys = systemFixture();
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'turnstream-client-'));
});
afterAll(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Line {
  event: string;
  label?: string;
  [key: string]: unknown;
}

describe('the packed client', () => {
  it('installs with npm outside the workspace, type-checks, and the example service gets its replies, cancels one, and sends a duplicate once', async () => {
    await run('pnpm', ['pack', '--pack-destination', dir], { cwd: contracts });
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    expect(tarball).toMatch(/^turnstream-contracts-\d+\.\d+\.\d+\.tgz$/);

    const project = join(dir, 'service');
    mkdirSync(project);
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'svc', private: true, type: 'module' }),
    );
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, tarball!)], {
      cwd: project,
    });
    copyFileSync(join(root, 'examples/turns-service/service.mjs'), join(project, 'service.mjs'));

    // The declarations are usable by a strict TypeScript consumer.
    writeFileSync(
      join(project, 'consumer.ts'),
      `import { TurnsClient, type TurnOutcome, type ClientEvent, TurnRejectedError } from '@turnstream/contracts';
const c = new TurnsClient({ connection: { host: 'localhost', port: 6379 } });
export async function f(): Promise<TurnOutcome> {
  const { messageId } = await c.enqueue({ tenantId: 't', externalConversationId: 'x', content: 'hi' });
  for await (const e of c.events({ messageId }) as AsyncIterable<ClientEvent>) if (e.id === null) break;
  return c.waitForReply(messageId, { timeoutMs: 1 });
}
export const isRejected = (e: unknown) => e instanceof TurnRejectedError && e.code.length > 0;
`,
    );
    await run(
      process.execPath,
      [
        tsc,
        '--noEmit',
        '--strict',
        '--module',
        'nodenext',
        '--target',
        'es2022',
        '--typeRoots',
        join(root, 'node_modules/@types'),
        '--types',
        'node',
        'consumer.ts',
      ],
      { cwd: project },
    ).catch((err: { stdout?: string }) => {
      throw new Error(`consumer does not type-check:\n${err.stdout}`);
    });

    const runId = `r${Date.now()}`;
    const { stdout } = await run(process.execPath, ['service.mjs'], {
      cwd: project,
      env: {
        PATH: process.env.PATH,
        TENANT_ID: sys.tenantId,
        REDIS_URL: sys.redisUrl,
        BULL_PREFIX: sys.bullPrefix,
        REDIS_PREFIX: sys.redisPrefix,
        RUN_ID: runId,
        LONG_PROMPT: 'Tell me a very long story. [[sim words=400 delay=25]]',
      },
    });
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Line);
    const done = lines.at(-1)!;
    expect(done.event).toBe('done');
    expect(done.duplicateSameMessage).toBe(true);
    const results = done.results as Array<{
      label: string;
      conversationId: string;
      messageId: string;
      status: string;
    }>;
    expect(Object.fromEntries(results.map((r) => [r.label, r.status]))).toEqual({
      billing: 'completed',
      shipping: 'completed',
      returns: 'completed',
      story: 'cancelled',
    });
    expect(lines.some((l) => l.event === 'chunk' && l.label === 'story')).toBe(true);

    const prompts: Record<string, string> = {
      billing: 'Why was I charged twice?',
      shipping: 'Where is my parcel?',
      returns: 'How do I send this back?',
    };
    for (const r of results) {
      const outcome = lines.find((l) => l.event === 'outcome' && l.label === r.label)!;
      const msgs = await history(sys, r.conversationId);
      // One user message and one reply per conversation: the duplicate enqueue of billing made nothing more.
      expect(msgs.map((m) => m.role)).toEqual(['user', 'assistant']);
      expect(msgs[0]).toMatchObject({ id: r.messageId, status: r.status });
      const { body } = await sys.api('GET', `/v1/conversations/${r.conversationId}`);
      expect(body.externalId).toBe(`${runId}-${r.label}`);
      if (r.label === 'story') {
        expect(msgs[1]!.status).toBe('cancelled');
        continue;
      }
      // The reply the system gives this text through the API, and the stored history, are the same.
      const expected = await simReplyTo(sys, prompts[r.label]!);
      expect(outcome.content).toBe(expected);
      expect(msgs[1]).toMatchObject({ status: 'completed', content: expected, replyTo: r.messageId });
      const streamed = lines
        .filter((l) => l.event === 'chunk' && l.label === r.label)
        .map((l) => l.text)
        .join('');
      expect(streamed).toBe(expected);
    }
    // Packing, an npm install and a TypeScript run take a while on a loaded machine (no timing asserted).
  }, 300_000);
});

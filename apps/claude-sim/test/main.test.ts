import { type ManagedProcess, startApp } from '@turnstream/testkit';
import { afterEach, describe, expect, it } from 'vitest';

let sim: ManagedProcess | undefined;

afterEach(async () => {
  await sim?.kill();
  sim = undefined;
});

describe('main.ts', () => {
  it('starts from env, logs sim.listen_completed with its url, serves, and exits 0 on SIGTERM', async () => {
    const app = await startApp('claude-sim', {
      name: 'sim',
      env: { SIM_PORT: '0', SIM_REPLY_WORDS: '3', SIM_TOKEN_DELAY_MS: '0', LOG_LEVEL: 'info' },
    });
    sim = app.proc;
    const listening = app.ready;
    expect(listening.level).toBe(30);
    expect(String(listening.url)).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const res = await fetch(`${String(listening.url)}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': 'k', 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'claude-haiku-4-5',
        max_tokens: 100,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    });
    const message = (await res.json()) as { content: Array<{ text: string }> };
    expect(message.content[0]?.text.split(' ')).toHaveLength(3);

    const exit = await sim.stop();
    expect(exit.code).toBe(0);
  });
});

describe('startSimulator', () => {
  it('is listening by the time it resolves', async () => {
    const { startSimulator } = await import('../src/index.ts');
    const sim = await startSimulator();
    try {
      const res = await fetch(`${sim.url}/v1/messages/count_tokens`, {
        method: 'POST',
        headers: { 'x-api-key': 'k', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(res.status).toBe(200);
    } finally {
      await sim.close();
    }
  });
});

import { existsSync } from 'node:fs';
import { waitFor } from '@turnstream/testkit';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../support/browser.ts';
import { TestSystem } from '../support/system.ts';
import { waitForTurn } from '../support/turns.ts';

// The playground page at `/`, in Debian's Chromium, against the real API, worker and simulator.
const BUILT_PAGE = new URL('../../apps/api/web/dist/index.html', import.meta.url);

let sys: TestSystem;
let browser: Browser;
let page: Page;
let conversationId: string;
const requestedUrls: string[] = [];
/** CSP or Trusted Types violations and uncaught errors in the page. */
const consoleProblems: string[] = [];

/** Each DOM change of the turns list, as (message, status, reply text) snapshots recorded in the page. */
interface ReplySample {
  id: string;
  status: string;
  placeholder: boolean;
  text: string;
}

const RECORD_REPLIES = `(() => {
  window.__replies = [];
  const list = document.getElementById('turns');
  new MutationObserver(() => {
    for (const li of list.querySelectorAll('li.turn')) {
      const reply = li.querySelector('.reply-text');
      window.__replies.push({
        id: li.dataset.messageId,
        status: li.dataset.status,
        placeholder: reply.classList.contains('placeholder'),
        text: reply.textContent,
      });
    }
  }).observe(list, { subtree: true, childList: true, characterData: true, attributes: true });
})()`;

async function replySamples(messageId: string): Promise<ReplySample[]> {
  const all = (await page.evaluate('window.__replies')) as ReplySample[];
  return all.filter((s) => s.id === messageId);
}

const turn = (messageId: string) => page.locator(`li.turn[data-message-id="${messageId}"]`);

/** Type a message in the composer, send it, and return the id of the turn that appears. */
async function send(content: string, mode: 'stream' | 'batch' = 'stream'): Promise<string> {
  const before = await page.locator('li.turn').count();
  await page.locator(`#composer input[name="mode"][value="${mode}"]`).check();
  await page.locator('#message').fill(content);
  await page.locator('#message').press('Enter');
  await waitFor(async () => (await page.locator('li.turn').count()) > before, {
    message: 'the sent message to appear',
  });
  const id = await page.locator('li.turn').last().getAttribute('data-message-id');
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  return id!;
}

async function waitForStatus(messageId: string, status: string): Promise<void> {
  await waitFor(async () => (await turn(messageId).getAttribute('data-status')) === status, {
    message: `turn ${messageId} to be ${status}`,
    timeoutMs: 30_000,
  });
}

beforeAll(async () => {
  if (!existsSync(BUILT_PAGE)) {
    throw new Error(
      'the playground is not built: pnpm --filter @turnstream/api build:web (npm test does it)',
    );
  }
  // Slow tokens, so a reply visibly streams.
  sys = await new TestSystem({ apis: 0, simEnv: { SIM_TOKEN_DELAY_MS: '40' } }).start();
  await sys.startApi({ PLAYGROUND_DEV_KEY: sys.apiKey });
  browser = await launchChromium();
  page = await browser.newPage();
  page.on('request', (r) => requestedUrls.push(r.url()));
  page.on('console', (m) => {
    // Refused loads (the restart below) are expected; policy violations are not.
    if (/Content.Security.Policy|Trusted.Type/i.test(m.text())) consoleProblems.push(m.text());
  });
  page.on('pageerror', (err) => consoleProblems.push(String(err)));
});

afterAll(async () => {
  await browser?.close();
  await sys?.stop();
});

describe('playground in a browser', () => {
  it('loads under its CSP, signs in with the prefilled development key, creates a conversation', async () => {
    const res = await page.goto(`${sys.apiUrl}/`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
    await waitFor(async () => (await page.locator('#api-key').inputValue()) === sys.apiKey, {
      message: 'the key field to be prefilled with the development key',
    });
    await page.locator('#sign-in-form button[type="submit"]').click();
    await page.locator('#workspace').waitFor({ state: 'visible' });

    await page.locator('#new-title').fill('from the browser');
    await page.locator('#new-conversation button[type="submit"]').click();
    const item = page.locator('#conversation-list li.selected');
    await item.waitFor();
    conversationId = (await item.getAttribute('data-id'))!;
    expect(await page.locator('#chat-title').textContent()).toBe('from the browser');
    const stored = await sys.api('GET', `/v1/conversations/${conversationId}`);
    expect(stored.body).toMatchObject({ title: 'from the browser', mode: 'stream' });
    await waitFor(async () => (await page.locator('#stream-state').getAttribute('data-state')) === 'live', {
      message: 'the event stream to be live',
    });
    expect(await page.locator('#session-id').textContent()).toBe(stored.body.session.id);
    await page.evaluate(RECORD_REPLIES);
  });

  it('sends a message and shows the reply growing as it streams, then complete', async () => {
    const messageId = await send('Tell me about rivers');
    await waitForStatus(messageId, 'completed');
    const { user, reply } = await waitForTurn(sys, conversationId, messageId);
    expect(user.content).toBe('Tell me about rivers');
    expect(reply).toMatchObject({ status: 'completed' });
    const shown = await turn(messageId).locator('.reply-text').textContent();
    expect(shown).toBe(reply!.content);

    // While streaming, the page showed ever longer prefixes of the final text.
    const streamed = (await replySamples(messageId)).filter(
      (s) => s.status === 'streaming' && !s.placeholder,
    );
    const lengths = [...new Set(streamed.map((s) => s.text.length))];
    expect(lengths).toEqual([...lengths].sort((a, b) => a - b));
    expect(lengths.filter((n) => n > 0 && n < reply!.content.length).length).toBeGreaterThanOrEqual(2);
    for (const s of streamed) expect(reply!.content.startsWith(s.text)).toBe(true);

    // The raw event log showed the turn's events as they came.
    const types = await page.locator('#event-log li:not(.local) .type').allTextContents();
    expect(types).toEqual(expect.arrayContaining(['turn.queued', 'turn.started', 'chunk', 'turn.completed']));
    // The session panel followed: the completed turn set an assistant session.
    await waitFor(
      async () => (await page.locator('#session-assistant-id').textContent())?.startsWith('asst_'),
      {
        message: 'the session panel to show the assistant session',
      },
    );
  });

  it('in batch mode the reply arrives whole', async () => {
    const messageId = await send('Batch, please', 'batch');
    await waitForStatus(messageId, 'completed');
    const { reply } = await waitForTurn(sys, conversationId, messageId);
    expect(await turn(messageId).locator('.reply-text').textContent()).toBe(reply!.content);
    const partial = (await replySamples(messageId)).filter(
      (s) => !s.placeholder && s.text !== reply!.content && s.text !== '',
    );
    expect(partial).toEqual([]);
  });

  it('cancels a running turn: the partial reply stays, marked cancelled', async () => {
    const messageId = await send('A long story I will stop [[sim words=400]]');
    await waitFor(
      async () =>
        ((await turn(messageId).locator('.reply-text:not(.placeholder)').textContent()) ?? '') !== '',
      { message: 'the reply to start streaming' },
    );
    await turn(messageId).locator('button.cancel').click();
    await waitForStatus(messageId, 'cancelled');
    expect(await turn(messageId).locator('button.cancel').isHidden()).toBe(true);
    const { user, reply } = await waitForTurn(sys, conversationId, messageId);
    expect(user.status).toBe('cancelled');
    expect(reply).toMatchObject({ status: 'cancelled' });
    expect(reply!.content.split(' ').length).toBeLessThan(400);
    expect(await turn(messageId).locator('.reply-text').textContent()).toBe(reply!.content);
    expect(await page.locator('#event-log li:not(.local) .type').allTextContents()).toContain(
      'turn.cancelled',
    );
  });

  it('resets the session: the panel shows the new session and the old one ended, its transcript cleared', async () => {
    const before = await sys.api('GET', `/v1/conversations/${conversationId}`);
    const oldSession = before.body.session;
    expect(oldSession.assistantSessionId).toMatch(/^asst_/);
    expect(await page.locator('#session-id').textContent()).toBe(oldSession.id);

    await page.locator('#reset-session').click();
    await waitFor(async () => (await page.locator('#session-id').textContent()) !== oldSession.id, {
      message: 'the session panel to show the new session',
    });
    const after = await sys.api('GET', `/v1/conversations/${conversationId}`);
    expect(after.body.session.id).not.toBe(oldSession.id);
    expect(await page.locator('#session-id').textContent()).toBe(after.body.session.id);
    expect(await page.locator('#session-version').textContent()).toBe('0');
    expect(await page.locator('#session-assistant-id').textContent()).toMatch(/^none/);
    const ended = page.locator(`#session-history li[data-kind="session"][data-status="ended"]`);
    expect(await ended.allTextContents()).toEqual([expect.stringContaining('ended: user_reset')]);
    const clears = await page.locator('#session-history li[data-kind="clear"]').allTextContents();
    expect(clears).toEqual([expect.stringContaining(oldSession.assistantSessionId)]);
    expect(clears[0]).toContain('user_reset');
  });

  it('follows on across an API restart that expired its stream token: every event once, the reply whole', async () => {
    const liveNotes = () => page.locator('#event-log li.local', { hasText: 'stream live' }).count();
    const livesBefore = await liveNotes();
    const messageId = await send('A reply that outlives the API [[sim words=100]]');
    await waitFor(
      async () =>
        ((await turn(messageId).locator('.reply-text:not(.placeholder)').textContent()) ?? '') !== '',
      { message: 'the reply to start streaming' },
    );
    // The API goes away mid-reply and comes back on the same address; the page's token is gone.
    const old = sys.apis[0]!;
    const port = new URL(old.url).port;
    await old.proc.stop();
    for (const key of await sys.redis.keys(`${sys.redisPrefix}:stream-token:*`)) await sys.redis.del(key);
    await sys.startApi({ PORT: port, PLAYGROUND_DEV_KEY: sys.apiKey });

    await waitFor(async () => (await liveNotes()) > livesBefore, {
      message: 'the page to follow the conversation again',
      timeoutMs: 30_000,
    });
    await waitForStatus(messageId, 'completed');
    const { reply } = await waitForTurn(sys, conversationId, messageId);
    expect(await turn(messageId).locator('.reply-text').textContent()).toBe(reply!.content);
    // It asked for a new token and resumed after the last event it had.
    const resumed = requestedUrls.filter((u) => /\/events\?token=sst_[^&]+&lastEventId=\d+-\d+$/.test(u));
    expect(resumed.length).toBeGreaterThanOrEqual(1);
    const ids = (await page.locator('#event-log li:not(.local) .id').allTextContents()).filter((id) =>
      /^\d+-\d+$/.test(id),
    );
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('resumes after a stream.error that ended its stream: a new token, after the id the error named, then live', async () => {
    // The first stream of a new conversation is answered as a replica that lost Redis ends one.
    const isStream = (url: URL) => url.pathname.endsWith('/events') && url.searchParams.has('token');
    let failedUrl = '';
    const lastEventId = '0-1';
    await page.route(isStream, async (route) => {
      if (failedUrl) return route.continue();
      failedUrl = route.request().url();
      const data = { code: 'stream_unavailable', message: 'unavailable', lastEventId };
      await route.fulfill({
        status: 200,
        headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store' },
        body: `: connected\n\nid: ${lastEventId}\nevent: stream.error\ndata: ${JSON.stringify(data)}\n\n`,
      });
    });
    const noted = page.locator('#event-log li.local', {
      hasText: 'stream ended by the server (stream_unavailable); resuming',
    });
    try {
      await page.locator('#new-title').fill('after a stream.error');
      await page.locator('#new-conversation button[type="submit"]').click();
      await waitFor(async () => (await noted.count()) === 1, {
        message: 'the page to note the stream.error',
      });
      await waitFor(async () => (await page.locator('#stream-state').getAttribute('data-state')) === 'live', {
        message: 'the stream to be live again',
        timeoutMs: 30_000,
      });
    } finally {
      await page.unroute(isStream);
    }
    // A new token (the failed one is not reused), resuming after the id the error named.
    const after = requestedUrls
      .slice(requestedUrls.indexOf(failedUrl) + 1)
      .filter((u) => isStream(new URL(u)));
    expect(after[0]).toMatch(new RegExp(`/events\\?token=sst_[^&]+&lastEventId=${lastEventId}$`));
    expect(new URL(after[0]!).searchParams.get('token')).not.toBe(
      new URL(failedUrl).searchParams.get('token'),
    );
    // The resumed stream carries the turn.
    const messageId = await send('After the error [[sim words=5]]');
    await waitForStatus(messageId, 'completed');
  });

  it('never put the key in a URL or a log line; EventSource used a stream token; no CSP violation', async () => {
    expect(requestedUrls.length).toBeGreaterThan(0);
    expect(requestedUrls.filter((u) => u.includes(sys.apiKey))).toEqual([]);
    expect(requestedUrls.some((u) => /\/events\?token=sst_/.test(u))).toBe(true);
    for (const proc of [...sys.apis.map((a) => a.proc), ...sys.workers]) {
      expect(JSON.stringify(proc.lines)).not.toContain(sys.apiKey);
    }
    expect(consoleProblems).toEqual([]);
  });
});

import { setTenantOperator } from '@turnstream/db';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../support/browser.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, postMessage, waitForTurn } from '../support/turns.ts';

// An operator in Debian's Chromium: signs in, opens the queue dashboard and the inspector, resets a session.
describe('admin area in a browser', () => {
  const sys = systemFixture();
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  beforeAll(async () => {
    await setTenantOperator(sys.tdb.db, sys.tenantId, true);
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('pageerror', (err) => problems.push(err.message));
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('signs in, opens the board and the inspector, and resets a session from the page', async () => {
    const conv = await createConversation(sys);
    const messageId = await postMessage(sys, conv, 'hello from the browser test');
    await waitForTurn(sys, conv, messageId);

    // Anonymous: the board sends the browser to the sign-in page.
    await page.goto(`${sys.apiUrl}/admin/queues`);
    expect(new URL(page.url()).pathname).toBe('/admin/login');
    await page.fill('input[name="key"]', sys.apiKey);
    await page.click('button[type="submit"]');
    await page.waitForURL(`${sys.apiUrl}/admin/queues`);
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name === 'ts_admin')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    // bull-board's page renders the turns queue (its UI reads the board API with the cookie).
    await page.getByText('turns', { exact: true }).first().click({ timeout: 30_000 });
    await page.waitForURL(/\/admin\/queues\/queue\/turns/);
    // The queue's completed job is listed (its data through the redacting formatter).
    await page.goto(`${sys.apiUrl}/admin/queues/queue/turns?status=completed`);
    await page.getByText(`turn-${messageId}`).first().waitFor({ timeout: 30_000 });

    await page.goto(`${sys.apiUrl}/admin/trouble`);
    await page.getByRole('heading', { name: 'Conversations in trouble' }).waitFor();
    await page.fill('input[name="id"]', conv);
    await page.click('text=Open');
    await page.waitForURL(`${sys.apiUrl}/admin/conversations/${conv}`);
    expect(await page.locator('#messages').textContent()).toContain(messageId);
    expect(await page.content()).not.toContain('hello from the browser test');

    await page.click('button:has-text("Reset session")');
    await page.waitForURL(`${sys.apiUrl}/admin/conversations/${conv}`);
    await page.locator('#sessions >> text=operator_reset').waitFor();
    expect(await page.locator('#audit').textContent()).toContain('session.reset');
    expect(problems).toEqual([]);

    await page.click('button:has-text("Sign out")');
    await page.waitForURL(`${sys.apiUrl}/admin/login`);
    await page.goto(`${sys.apiUrl}/admin/trouble`);
    expect(new URL(page.url()).pathname).toBe('/admin/login');
  });
});

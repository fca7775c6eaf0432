import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@turnstream/logger';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLAYGROUND_CSP } from '../src/playground.ts';
import { harnessFixture } from './helpers.ts';

// The playground page at `/`: built files only, a strict CSP, and the development key to loopback only.
const h = harnessFixture();
let dir: string;
let page: FastifyInstance;
const DEV_KEY = 'tsk_dev_key_for_the_playground_test';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ts-playground-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(
    join(dir, 'index.html'),
    '<!doctype html><title>pg</title><script type="module" src="/assets/app-1a2b.js"></script>',
  );
  writeFileSync(join(dir, 'assets', 'app-1a2b.js'), 'console.log(1);');
  writeFileSync(join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  page = h.build({ config: { playground: { dir, devKey: DEV_KEY } } });
  await page.ready();
});
afterAll(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('playground page', () => {
  it('serves the built page at / with a strict Content-Security-Policy', async () => {
    const res = await page.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toContain('<title>pg</title>');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toBe(PLAYGROUND_CSP);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect((await page.inject({ method: 'GET', url: '/index.html' })).statusCode).toBe(200);
  });

  it('serves hashed assets as immutable, with the same headers', async () => {
    const res = await page.inject({ method: 'GET', url: '/assets/app-1a2b.js' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/javascript/);
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(res.headers['content-security-policy']).toBe(PLAYGROUND_CSP);
    const icon = await page.inject({ method: 'GET', url: '/favicon.svg' });
    expect(icon.statusCode).toBe(200);
    expect(icon.headers['cache-control']).toBe('no-cache');
  });

  it('serves nothing but the built files: anything else is the JSON 404', async () => {
    for (const url of [
      '/assets/other.js',
      '/../package.json',
      '/%2e%2e/package.json',
      '/assets/',
      '/src/main.ts',
    ]) {
      const res = await page.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json().error.code, url).toBe('not_found');
    }
  });

  it('leaves the API as it was', async () => {
    const res = await page.inject({ method: 'GET', url: '/v1/conversations' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-security-policy']).toBeUndefined();
    expect((await page.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});

describe('GET /playground/config', () => {
  it('gives the development key to a loopback client, never cached', async () => {
    const res = await page.inject({ method: 'GET', url: '/playground/config' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ devKey: DEV_KEY });
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('gives no key to any other client', async () => {
    const res = await page.inject({ method: 'GET', url: '/playground/config', remoteAddress: '10.1.2.3' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ devKey: null });
  });

  it('gives no key when none is configured', async () => {
    const app = h.build({ config: { playground: { dir } } });
    const res = await app.inject({ method: 'GET', url: '/playground/config' });
    expect(res.json()).toEqual({ devKey: null });
  });
});

describe('playground off or not built', () => {
  it('off (the default of buildApp): no page, no config', async () => {
    for (const url of ['/', '/playground/config']) {
      const res = await h.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json().error.code).toBe('not_found');
    }
  });

  it('not built: / says how to build it, and the start logs a warning', async () => {
    const lines: string[] = [];
    const logger = createLogger({
      name: 'api',
      destination: { write: (line: string) => lines.push(line) } as unknown as NodeJS.WritableStream,
    });
    const app = h.build({ config: { playground: { dir: join(dir, 'missing') } }, logger });
    await app.ready();
    const res = await app.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toMatchObject({
      code: 'not_found',
      message: expect.stringContaining('build:web'),
    });
    expect(lines.map((l) => JSON.parse(l).event)).toContain('playground.assets_missing');
  });
});

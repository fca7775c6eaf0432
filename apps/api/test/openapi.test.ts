import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { TABLE_END, TABLE_START, withEndpointTable } from '../src/openapi/endpoint-table.ts';
import { harnessFixture, tenantFixture } from './helpers.ts';
import { routeTable } from './route-table.ts';

// GET /openapi.json and /docs: the document covers every public route, real responses (successes and
// errors) match it, and the README's endpoint table is generated from the same operations.
const h = harnessFixture();
const t = tenantFixture(h);
// biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document is walked as plain JSON
let doc: any;
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
/** `METHOD /pattern status` of every response checked against the document. */
const checked = new Set<string>();

beforeAll(async () => {
  doc = (await h.request('GET', '/openapi.json')).body;
  ajv.addSchema(doc, 'openapi');
});

const pointer = (...parts: string[]) =>
  parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

/** The documented pattern a concrete path matches (`/v1/conversations/{id}`). */
function patternOf(method: string, path: string): string {
  const found = Object.keys(doc.paths).find((pattern) => {
    const re = new RegExp(`^${pattern.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    return re.test(path) && doc.paths[pattern][method.toLowerCase()];
  });
  if (!found) throw new Error(`${method} ${path} is not in the document`);
  return found;
}

/** Send a request and check its response against the document (the status's schema, else `default`). */
async function call(
  method: 'GET' | 'POST' | 'DELETE',
  url: string,
  opts: { key?: string; body?: unknown } = {},
) {
  const res = await h.request(method, url, opts);
  const pattern = patternOf(method, url.split('?')[0]!);
  const responses = doc.paths[pattern][method.toLowerCase()].responses;
  const status = String(res.status) in responses ? String(res.status) : 'default';
  const response = responses[status];
  if (res.status === 204) {
    expect(res.body, `${method} ${url}`).toBeUndefined();
  } else {
    expect(Object.keys(response.content ?? {}), `${method} ${url} ${res.status}`).toContain(
      'application/json',
    );
    const ref = `openapi#/${pointer('paths', pattern, method.toLowerCase(), 'responses', status, 'content', 'application/json', 'schema')}`;
    const validate = ajv.getSchema(ref)!;
    const ok = validate(res.body);
    expect(ok, `${method} ${url} ${res.status}: ${JSON.stringify(validate.errors)}`).toBe(true);
  }
  checked.add(`${method} ${pattern} ${status}`);
  return res;
}

describe('/openapi.json', () => {
  it('is OpenAPI 3.1 and documents exactly the public routes', () => {
    expect(doc.openapi).toBe('3.1.0');
    const documented = Object.entries(doc.paths).flatMap(([pattern, ops]) =>
      Object.keys(ops as object).map((m) => `${m.toUpperCase()} ${pattern.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    const publicRoutes = routeTable(h.app)
      .filter((r) => r.path.startsWith('/v1/') || r.path === '/healthz' || r.path === '/readyz')
      .map((r) => `${r.method} ${r.path}`);
    expect(documented.sort()).toEqual([...new Set(publicRoutes)].sort());
    for (const [pattern, ops] of Object.entries(doc.paths)) {
      for (const op of Object.values(ops as Record<string, { responses: object; summary: string }>)) {
        expect(Object.keys(op.responses), pattern).toContain('default');
        expect(op.summary, pattern).toBeTruthy();
      }
    }
  });

  it('real responses match it, successes and errors, on every operation', async () => {
    const admin = t.keys.admin;
    await call('GET', '/healthz');
    await call('GET', '/readyz');
    await call('GET', '/v1/models', { key: t.keys.viewer });
    const conv = (
      await call('POST', '/v1/conversations', { key: admin, body: { title: 'doc', externalId: 'x-1' } })
    ).body.id;
    await call('POST', '/v1/conversations', { key: admin, body: { externalId: 'x-1' } }); // 409
    await call('POST', '/v1/conversations', { key: admin, body: { title: 7 } }); // 400
    await call('POST', '/v1/conversations', { key: t.keys.viewer, body: {} }); // 403
    await call('POST', '/v1/conversations', { body: {} }); // 401
    await call('GET', '/v1/conversations?limit=1', { key: admin });
    await call('GET', '/v1/conversations?limit=0', { key: admin }); // 400
    await call('GET', `/v1/conversations/${conv}`, { key: admin });
    await call('GET', `/v1/conversations/${crypto.randomUUID()}`, { key: admin }); // 404
    await call('GET', `/v1/conversations/${conv}/sessions`, { key: admin });
    const posted = await call('POST', `/v1/conversations/${conv}/messages`, {
      key: admin,
      body: { content: 'hello', idempotencyKey: 'k1' },
    });
    await call('POST', `/v1/conversations/${conv}/messages`, {
      key: admin,
      body: { content: 'other', idempotencyKey: 'k1' },
    }); // 409
    const messageId = posted.body.messageId;
    await call('GET', `/v1/conversations/${conv}/messages`, { key: admin });
    await call('GET', `/v1/conversations/${conv}/messages/${messageId}`, { key: admin });
    await call('GET', `/v1/conversations/${conv}/messages/${messageId}`, { key: t.keys.viewer });
    await call('POST', `/v1/conversations/${conv}/messages/${messageId}/cancel`, { key: admin });
    await call('POST', `/v1/conversations/${conv}/messages/${messageId}/cancel`, { key: admin }); // 409
    await call('POST', `/v1/conversations/${conv}/reset`, { key: admin });
    await call('POST', `/v1/conversations/${conv}/stream-tokens`, { key: t.keys.viewer });
    await call('GET', `/v1/conversations/${conv}/events?lastEventId=nope`, { key: admin }); // 400

    const hook = await call('POST', '/v1/webhooks', {
      key: admin,
      body: { url: 'https://93.184.215.14/hook', eventTypes: ['turn.completed'] },
    });
    await call('POST', '/v1/webhooks', {
      key: admin,
      body: { url: 'http://10.0.0.1/', eventTypes: ['turn.failed'] },
    }); // 422
    await call('GET', '/v1/webhooks', { key: t.keys.viewer });
    await call('POST', `/v1/webhooks/${hook.body.id}/rotate-secret`, {
      key: admin,
      body: { graceSeconds: 60 },
    });
    await call('GET', `/v1/webhooks/${hook.body.id}/deliveries`, { key: t.keys.viewer });
    await call('DELETE', `/v1/webhooks/${hook.body.id}`, { key: admin });
    await call('DELETE', `/v1/webhooks/${hook.body.id}`, { key: admin }); // 404
    await call('DELETE', `/v1/conversations/${conv}`, { key: admin });

    // Every operation was answered with one of its documented successes at least once (the event
    // stream's is text/event-stream, checked below).
    for (const [pattern, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops as Record<string, { responses: object }>)) {
        if (pattern.endsWith('/events')) continue;
        const successes = Object.keys(op.responses).filter((s) => s.startsWith('2'));
        expect(
          successes.some((s) => checked.has(`${method.toUpperCase()} ${pattern} ${s}`)),
          `${method} ${pattern}`,
        ).toBe(true);
      }
    }
  });

  it('the event stream is documented as text/event-stream and answers it', async () => {
    const conv = (await h.request('POST', '/v1/conversations', { key: t.keys.admin, body: {} })).body.id;
    const op = doc.paths['/v1/conversations/{id}/events'].get;
    expect(Object.keys(op.responses['200'].content)).toEqual(['text/event-stream']);
    const res = await h.app.inject({
      method: 'HEAD',
      url: `/v1/conversations/${conv}/events`,
      headers: { authorization: `Bearer ${t.keys.admin}` },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
  });
});

describe('/docs', () => {
  it('serves the reference page with its assets from the package (no CDN)', async () => {
    const page = await h.app.inject({ method: 'GET', url: '/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.body).not.toMatch(/https?:\/\/(?!localhost)[^"']*\.(js|css)/);
    const scripts = [...page.body.matchAll(/src="([^"]+\.js)"/g)].map((m) => m[1]!);
    expect(scripts.length).toBeGreaterThan(0);
    for (const src of scripts) {
      const asset = await h.app.inject({ method: 'GET', url: new URL(src, 'http://x/docs/').pathname });
      expect(asset.statusCode, src).toBe(200);
      expect(asset.body.length, src).toBeGreaterThan(100);
    }
  });
});

describe('apps/api/README.md', () => {
  it('has the endpoint table generated from the OpenAPI operations (run `pnpm docs:api` when this fails)', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(TABLE_START);
    expect(readme).toContain(TABLE_END);
    expect(readme).toBe(withEndpointTable(readme));
  });
});

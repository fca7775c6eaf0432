import { describe, expect, it } from 'vitest';
import { harnessFixture, tenantFixture } from './helpers.ts';

// /v1/webhooks: registering, listing, deleting endpoints and rotating their secrets (the deliveries
// themselves are tested end to end in test/e2e/webhooks.test.ts).
// As in production: no special-purpose network allowed.
const h = harnessFixture();
const t = tenantFixture(h);
const other = tenantFixture(h);

const PUBLIC = 'https://93.184.215.14/hooks/turnstream';

async function register(key: string, body: unknown) {
  return h.request('POST', '/v1/webhooks', { key, body });
}

describe('/v1/webhooks', () => {
  it('registers (the secret shown once), lists, rotates and deletes', async () => {
    const created = await register(t.keys.admin, {
      url: PUBLIC,
      eventTypes: ['turn.completed', 'turn.failed'],
      description: 'orders',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ url: PUBLIC, eventTypes: ['turn.completed', 'turn.failed'] });
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/=]{40,}$/);
    const id = created.body.id;

    const list = await h.request('GET', '/v1/webhooks', { key: t.keys.viewer });
    expect(list.status).toBe(200);
    expect(list.body.webhooks).toEqual([
      {
        id,
        url: PUBLIC,
        eventTypes: ['turn.completed', 'turn.failed'],
        description: 'orders',
        createdAt: created.body.createdAt,
      },
    ]);
    expect(JSON.stringify(list.body)).not.toContain(created.body.secret);
    expect((await h.request('GET', '/v1/webhooks', { key: other.keys.admin })).body.webhooks).toEqual([]);

    const rotated = await h.request('POST', `/v1/webhooks/${id}/rotate-secret`, { key: t.keys.admin });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).not.toBe(created.body.secret);
    expect(Date.parse(rotated.body.previousSecretExpiresAt)).toBeGreaterThan(Date.now());

    const deliveries = await h.request('GET', `/v1/webhooks/${id}/deliveries`, { key: t.keys.viewer });
    expect(deliveries).toMatchObject({ status: 200, body: { deliveries: [] } });

    expect((await h.request('DELETE', `/v1/webhooks/${id}`, { key: t.keys.admin })).status).toBe(204);
    expect((await h.request('GET', '/v1/webhooks', { key: t.keys.admin })).body.webhooks).toEqual([]);
    const again = await h.request('DELETE', `/v1/webhooks/${id}`, { key: t.keys.admin });
    expect(again).toMatchObject({ status: 404, body: { error: { code: 'webhook_not_found' } } });
  });

  it('only admin keys register, rotate and delete', async () => {
    const created = await register(t.keys.admin, { url: PUBLIC, eventTypes: ['turn.completed'] });
    for (const key of [t.keys.client, t.keys.viewer]) {
      expect((await register(key, { url: PUBLIC, eventTypes: ['turn.completed'] })).body.error.code).toBe(
        'forbidden',
      );
      expect(
        (await h.request('POST', `/v1/webhooks/${created.body.id}/rotate-secret`, { key })).body.error.code,
      ).toBe('forbidden');
      expect((await h.request('DELETE', `/v1/webhooks/${created.body.id}`, { key })).status).toBe(403);
    }
  });

  it("another tenant's endpoint is a 404 everywhere, and stays", async () => {
    const created = await register(t.keys.admin, { url: PUBLIC, eventTypes: ['turn.completed'] });
    const id = created.body.id;
    for (const [method, path] of [
      ['GET', `/v1/webhooks/${id}/deliveries`],
      ['POST', `/v1/webhooks/${id}/rotate-secret`],
      ['DELETE', `/v1/webhooks/${id}`],
      ['DELETE', '/v1/webhooks/not-a-uuid'],
    ] as const) {
      const res = await h.request(method, path, { key: other.keys.admin });
      expect(res.status, path).toBe(404);
      expect(res.body.error.code).toBe('webhook_not_found');
    }
    expect(
      (await h.request('GET', '/v1/webhooks', { key: t.keys.admin })).body.webhooks.map(
        (w: { id: string }) => w.id,
      ),
    ).toContain(id);
  });

  it.each([
    ['http://127.0.0.1:8080/hook', 'loopback address'],
    ['http://localhost:8080/hook', 'a name resolving to loopback'],
    ['http://10.0.0.7/hook', 'a private address'],
    ['http://169.254.169.254/latest/meta-data', 'the cloud metadata address'],
    ['http://[::1]/hook', 'IPv6 loopback'],
    ['http://[::ffff:192.168.0.1]/hook', 'an IPv4-mapped private address'],
  ])('refuses %s (%s) with webhook_target_refused, storing nothing', async (url) => {
    const res = await register(t.keys.admin, { url, eventTypes: ['turn.completed'] });
    expect(res.status).toBe(422);
    expect(res.body.error).toMatchObject({ code: 'webhook_target_refused', details: { field: 'url' } });
    const list = await h.request('GET', '/v1/webhooks', { key: t.keys.admin });
    expect(list.body.webhooks.map((w: { url: string }) => w.url)).not.toContain(url);
  });

  it.each([
    [{ url: 'ftp://example.com/x', eventTypes: ['turn.completed'] }, 'url'],
    [{ url: 'https://u:p@example.com/x', eventTypes: ['turn.completed'] }, 'url'],
    [{ url: PUBLIC, eventTypes: [] }, 'eventTypes'],
    [{ url: PUBLIC, eventTypes: ['turn.started'] }, 'eventTypes.0'],
    [{ url: PUBLIC, eventTypes: ['turn.failed', 'turn.failed'] }, 'eventTypes'],
    [{ url: PUBLIC, eventTypes: ['turn.failed'], secret: 'mine' }, 'secret'],
    [{ eventTypes: ['turn.failed'] }, 'url'],
  ])('rejects %j naming %s', async (body, field) => {
    const res = await register(t.keys.admin, body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_failed');
    expect(res.body.error.details.issues.map((i: { field: string }) => i.field)).toContain(field);
  });

  it('a message callbackUrl must be on the origin of one of the endpoints', async () => {
    const conv = (await h.request('POST', '/v1/conversations', { key: other.keys.client, body: {} })).body.id;
    const post = (callbackUrl: string) =>
      h.request('POST', `/v1/conversations/${conv}/messages`, {
        key: other.keys.client,
        body: { content: 'hi', callbackUrl },
      });
    const refused = await post('https://93.184.215.14/callback');
    expect(refused).toMatchObject({ status: 422, body: { error: { code: 'callback_url_not_registered' } } });
    expect((await post('not a url')).body.error.details.issues[0].field).toBe('callbackUrl');
    await register(other.keys.admin, { url: 'https://93.184.215.14/hooks', eventTypes: ['turn.failed'] });
    expect((await post('https://93.184.215.14/callback?id=1')).status).toBe(202);
    expect((await post('https://93.184.215.14:8443/callback')).status).toBe(422);
  });
});

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApiKey, createTenant } from '@turnstream/db';
import { waitFor } from '@turnstream/testkit';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestSystem } from '../support/system.ts';

// Issue 11: webhooks through the real API, worker (which sends them), queue and a real receiver.

interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** A receiver: `/ok` answers 204, `/flaky` 500 twice per delivery then 200, `/hang` never answers. */
class Receiver {
  readonly received: Received[] = [];
  readonly hanging: ServerResponse[] = [];
  private readonly flaky = new Map<string, number>();
  private server!: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0]!;
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : (v ?? '')]),
      );
      this.received.push({ path, headers, body: Buffer.concat(chunks).toString('utf8') });
      if (path === '/hang') {
        this.hanging.push(res);
        return;
      }
      if (path === '/flaky') {
        const id = headers['webhook-id']!;
        const seen = (this.flaky.get(id) ?? 0) + 1;
        this.flaky.set(id, seen);
        res.statusCode = seen <= 2 ? 500 : 200;
        res.end('');
        return;
      }
      res.statusCode = 204;
      res.end();
    });
  }

  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  release(): void {
    for (const res of this.hanging.splice(0)) res.end();
  }

  async stop(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let sys: TestSystem;
let receiver: Receiver;
beforeAll(async () => {
  receiver = await new Receiver().start();
  sys = await new TestSystem({
    apiEnv: { WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8', RETENTION_SWEEP_MS: '0' },
    workerEnv: {
      WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8',
      WEBHOOK_BACKOFF_MS: '50',
      WEBHOOK_TIMEOUT_MS: '600000',
    },
  }).start();
});
afterAll(async () => {
  receiver?.release();
  await sys?.stop();
  await receiver?.stop();
});

/** A tenant of its own (endpoints are per tenant) with an admin key, and requests made with it. */
async function tenant() {
  const t = await createTenant(sys.tdb.db, { name: `wh-${crypto.randomUUID().slice(0, 8)}` });
  const { key } = await createApiKey(sys.tdb.db, { tenantId: t.id, role: 'admin' });
  const api = async (
    method: string,
    path: string,
    body?: unknown,
    // biome-ignore lint/suspicious/noExplicitAny: responses are asserted field by field
  ): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${sys.apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const register = async (path: string, eventTypes = ['turn.completed']) => {
    const res = await api('POST', '/v1/webhooks', { url: `${receiver.url}${path}`, eventTypes });
    expect(res.status).toBe(201);
    return res.body as { id: string; secret: string };
  };
  const turn = async (content: string, extra: Record<string, unknown> = {}) => {
    const conv = (await api('POST', '/v1/conversations', {})).body.id as string;
    const posted = await api('POST', `/v1/conversations/${conv}/messages`, { content, ...extra });
    expect(posted.status).toBe(202);
    return { conv, messageId: posted.body.messageId as string };
  };
  const history = async (conv: string) =>
    (await api('GET', `/v1/conversations/${conv}/messages`)).body.messages;
  const finished = (conv: string, messageId: string) =>
    waitFor(
      async () => {
        const msgs = await history(conv);
        const user = msgs.find((m: { id: string }) => m.id === messageId);
        return user && ['completed', 'failed', 'cancelled'].includes(user.status) ? msgs : null;
      },
      { message: `turn of ${messageId}` },
    );
  return { tenantId: t.id, api, register, turn, history, finished };
}

const forMessage = (path: string, messageId: string) =>
  receiver.at(path).filter((r) => JSON.parse(r.body).data.messageId === messageId);

describe('webhooks', () => {
  it('delivers the outcome signed per Standard Webhooks; the verifier accepts it and rejects a forgery', async () => {
    const t = await tenant();
    const endpoint = await t.register('/ok', ['turn.completed']);
    const failedOnly = await t.register('/ok-failed', ['turn.failed']);
    const { conv, messageId } = await t.turn('hello hooks');
    const msgs = await t.finished(conv, messageId);
    const [delivery] = await waitFor(async () => {
      const got = forMessage('/ok', messageId);
      return got.length > 0 ? got : null;
    });

    const payload = new Webhook(endpoint.secret).verify(delivery!.body, delivery!.headers) as {
      type: string;
      data: { messageId: string; conversationId: string; status: string; reply: { content: string } };
    };
    expect(payload.type).toBe('turn.completed');
    expect(payload.data).toMatchObject({ messageId, conversationId: conv, status: 'completed' });
    const reply = msgs.find((m: { replyTo: string | null }) => m.replyTo === messageId);
    expect(payload.data.reply.content).toBe(reply.content);
    expect(delivery!.headers['webhook-id']).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(Number(delivery!.headers['webhook-timestamp'])).toBeGreaterThan(0);

    // Another secret, or a changed body, does not verify.
    const other = await t.register('/other');
    expect(() => new Webhook(other.secret).verify(delivery!.body, delivery!.headers)).toThrow(
      WebhookVerificationError,
    );
    expect(() =>
      new Webhook(endpoint.secret).verify(delivery!.body.replace('completed', 'failed'), delivery!.headers),
    ).toThrow(WebhookVerificationError);

    // Listed with its attempt; the turn.failed-only endpoint got nothing.
    const list = await t.api('GET', `/v1/webhooks/${endpoint.id}/deliveries`);
    expect(list.status).toBe(200);
    expect(list.body.deliveries).toHaveLength(1);
    expect(list.body.deliveries[0]).toMatchObject({
      eventType: 'turn.completed',
      messageId,
      conversationId: conv,
      status: 'delivered',
      webhookId: delivery!.headers['webhook-id'],
      attempts: [{ attempt: 1, outcome: 'succeeded', statusCode: 204, error: null }],
    });
    expect((await t.api('GET', `/v1/webhooks/${failedOnly.id}/deliveries`)).body.deliveries).toEqual([]);
    expect(receiver.at('/ok-failed')).toEqual([]);
  });

  it('announces a deleted conversation as conversation.deleted, signed, to the endpoints subscribed to it', async () => {
    const t = await tenant();
    const endpoint = await t.register('/deleted', ['conversation.deleted']);
    const turnsOnly = await t.register('/turns-only', ['turn.completed']);
    const externalId = `ticket-${crypto.randomUUID()}`;
    const conv = (await t.api('POST', '/v1/conversations', { externalId })).body.id as string;
    expect((await t.api('DELETE', `/v1/conversations/${conv}`)).status).toBe(204);

    const [delivery] = await waitFor(async () => {
      const got = receiver.at('/deleted').filter((r) => JSON.parse(r.body).data.conversationId === conv);
      return got.length > 0 ? got : null;
    });
    const payload = new Webhook(endpoint.secret).verify(delivery!.body, delivery!.headers);
    expect(payload).toEqual({
      type: 'conversation.deleted',
      timestamp: expect.any(String),
      data: { tenantId: t.tenantId, conversationId: conv, externalId, via: 'api' },
    });
    const listed = await waitFor(async () => {
      const res = await t.api('GET', `/v1/webhooks/${endpoint.id}/deliveries`);
      return res.body.deliveries[0]?.status === 'delivered' ? res.body.deliveries : null;
    });
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({
      eventType: 'conversation.deleted',
      conversationId: conv,
      messageId: null,
    });
    expect((await t.api('GET', `/v1/webhooks/${turnsOnly.id}/deliveries`)).body.deliveries).toEqual([]);
    expect(receiver.at('/turns-only')).toEqual([]);

    // An event type outside the catalog is refused.
    const bad = await t.api('POST', '/v1/webhooks', {
      url: `${receiver.url}/x`,
      eventTypes: ['conversation.created'],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('validation_failed');
  });

  it('retries a failing receiver with backoff: same webhook-id and body each time, every attempt listed', async () => {
    const t = await tenant();
    const endpoint = await t.register('/flaky');
    const { conv, messageId } = await t.turn('flaky receiver');
    await t.finished(conv, messageId);
    const list = await waitFor(async () => {
      const res = await t.api('GET', `/v1/webhooks/${endpoint.id}/deliveries`);
      return res.body.deliveries[0]?.status === 'delivered' ? res.body.deliveries : null;
    });
    expect(list[0].attempts.map((a: { statusCode: number }) => a.statusCode)).toEqual([500, 500, 200]);
    expect(list[0].attempts.map((a: { outcome: string }) => a.outcome)).toEqual([
      'failed',
      'failed',
      'succeeded',
    ]);
    const sent = forMessage('/flaky', messageId);
    expect(sent).toHaveLength(3);
    expect(new Set(sent.map((s) => s.headers['webhook-id'])).size).toBe(1);
    expect(new Set(sent.map((s) => s.body)).size).toBe(1);
    for (const s of sent) expect(() => new Webhook(endpoint.secret).verify(s.body, s.headers)).not.toThrow();
  });

  it('a message callbackUrl on an endpoint origin gets the outcome too; another origin is refused', async () => {
    const t = await tenant();
    const endpoint = await t.register('/ok', ['turn.failed']);
    const { conv, messageId } = await t.turn('call me back', {
      callbackUrl: `${receiver.url}/callback?order=7`,
    });
    await t.finished(conv, messageId);
    const [cb] = await waitFor(async () => {
      const got = forMessage('/callback', messageId);
      return got.length > 0 ? got : null;
    });
    expect(new Webhook(endpoint.secret).verify(cb!.body, cb!.headers)).toMatchObject({
      type: 'turn.completed',
      data: { messageId },
    });

    const conv2 = (await t.api('POST', '/v1/conversations', {})).body.id;
    const refused = await t.api('POST', `/v1/conversations/${conv2}/messages`, {
      content: 'x',
      callbackUrl: 'http://127.0.0.1:1/elsewhere',
    });
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('callback_url_not_registered');
    expect(await t.history(conv2)).toEqual([]);
  });

  it('a cancelled turn is delivered as turn.cancelled', async () => {
    const t = await tenant();
    const endpoint = await t.register('/ok', ['turn.cancelled']);
    // A long turn holds the conversation, so the second message waits (the API cancels it, or the
    // worker if it had just taken the job: either publishes the outcome).
    const { conv, messageId: first } = await t.turn('[[sim words=400 delay=30]] a long answer');
    const second = (await t.api('POST', `/v1/conversations/${conv}/messages`, { content: 'queued' })).body
      .messageId;
    const cancelled = await t.api('POST', `/v1/conversations/${conv}/messages/${second}/cancel`);
    expect(['cancelled', 'cancelling']).toContain(cancelled.body.status);
    const [delivery] = await waitFor(async () => {
      const got = forMessage('/ok', second);
      return got.length > 0 ? got : null;
    });
    expect(new Webhook(endpoint.secret).verify(delivery!.body, delivery!.headers)).toMatchObject({
      type: 'turn.cancelled',
      data: { messageId: second, conversationId: conv, status: 'cancelled' },
    });
    await t.api('POST', `/v1/conversations/${conv}/messages/${first}/cancel`);
    await t.finished(conv, first);
  });

  it('rotating the secret: during the grace period both verify; without grace only the new one', async () => {
    const t = await tenant();
    const endpoint = await t.register('/ok');
    const rotated = await t.api('POST', `/v1/webhooks/${endpoint.id}/rotate-secret`, { graceSeconds: 3600 });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).not.toBe(endpoint.secret);
    const first = await t.turn('after rotation');
    await t.finished(first.conv, first.messageId);
    const [d1] = await waitFor(async () => {
      const got = forMessage('/ok', first.messageId);
      return got.length > 0 ? got : null;
    });
    expect(() => new Webhook(rotated.body.secret).verify(d1!.body, d1!.headers)).not.toThrow();
    expect(() => new Webhook(endpoint.secret).verify(d1!.body, d1!.headers)).not.toThrow();

    const again = await t.api('POST', `/v1/webhooks/${endpoint.id}/rotate-secret`, { graceSeconds: 0 });
    const second = await t.turn('after a rotation without grace');
    await t.finished(second.conv, second.messageId);
    const [d2] = await waitFor(async () => {
      const got = forMessage('/ok', second.messageId);
      return got.length > 0 ? got : null;
    });
    expect(() => new Webhook(again.body.secret).verify(d2!.body, d2!.headers)).not.toThrow();
    expect(() => new Webhook(rotated.body.secret).verify(d2!.body, d2!.headers)).toThrow(
      WebhookVerificationError,
    );
  });

  it('a receiver that hangs delays neither turns nor other endpoints: it holds its own 2 delivery slots, no more', async () => {
    const t = await tenant();
    const endpoint = await t.register('/hang');
    let most = 0;
    const watch = setInterval(() => {
      most = Math.max(most, receiver.hanging.length);
    }, 5);
    try {
      const turns = await Promise.all(
        Array.from({ length: 12 }, (_, i) => t.turn(`turn ${i} of a hung receiver`)),
      );
      await waitFor(() => receiver.hanging.length >= 2 || null, { message: "the endpoint's slots to hang" });
      // While it hangs: turns posted now run and complete, and another tenant's webhooks are delivered.
      const later = await Promise.all(Array.from({ length: 5 }, (_, i) => t.turn(`later turn ${i}`)));
      for (const { conv, messageId } of [...turns, ...later]) {
        const msgs = await t.finished(conv, messageId);
        expect(msgs.find((m: { id: string }) => m.id === messageId).status).toBe('completed');
      }
      const other = await tenant();
      const otherEndpoint = await other.register('/ok');
      const { conv, messageId } = await other.turn('a healthy receiver is not held up');
      await other.finished(conv, messageId);
      await waitFor(
        async () =>
          (await other.api('GET', `/v1/webhooks/${otherEndpoint.id}/deliveries`)).body.deliveries[0]
            ?.status === 'delivered' || null,
        { message: "the other tenant's delivery" },
      );
      // All that time the hung endpoint held its two slots and was never answered.
      expect(receiver.hanging.length).toBe(2);
      expect(most).toBe(2);
      const list = (await t.api('GET', `/v1/webhooks/${endpoint.id}/deliveries?limit=100`)).body.deliveries;
      expect(list).toHaveLength(17);
      expect(list.every((d: { status: string }) => d.status === 'pending')).toBe(true);

      // Once it answers, every outcome is delivered.
      await waitFor(
        async () => {
          receiver.release();
          const all = (await t.api('GET', `/v1/webhooks/${endpoint.id}/deliveries?limit=100`)).body
            .deliveries;
          return all.every((d: { status: string }) => d.status === 'delivered') ? all : null;
        },
        { message: 'every delivery after the receiver recovered', timeoutMs: 60_000 },
      );
      expect(most).toBe(2);
    } finally {
      clearInterval(watch);
    }
  });
});

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type ClientEvent,
  InvalidTurnInputError,
  scopedMessageId,
  TURNS_INTAKE_QUEUE,
  TurnRejectedError,
  type TurnsClient,
  TurnTimeoutError,
} from '@turnstream/contracts';
import { seedTenant } from '@turnstream/db/testing';
import { waitFor } from '@turnstream/testkit';
import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStream } from '../support/stream-events.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, history, postMessage, waitForTurn } from '../support/turns.ts';
import { type SystemTurnsClient, systemTurnsClient } from '../support/turns-client.ts';

// Issue 11: TurnsClient, for services that integrate through Redis alone (no HTTP, no database).
const sys = systemFixture({
  apiEnv: { WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8' },
  workerEnv: { WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8', WEBHOOK_BACKOFF_MS: '50' },
});
let connection: SystemTurnsClient;
let client: TurnsClient;
beforeAll(async () => {
  connection = systemTurnsClient(sys);
  client = connection.client;
});
afterAll(async () => {
  await connection?.close();
});

async function collect(iterable: AsyncIterable<ClientEvent>, stop: (e: ClientEvent) => boolean) {
  const out: ClientEvent[] = [];
  for await (const e of iterable) {
    out.push(e);
    if (stop(e)) break;
  }
  return out;
}

describe('TurnsClient', () => {
  it('enqueue returns once the message is visible: history, turn.queued in the log, ?messageId=&until=turn; then waitForReply gives the reply', async () => {
    const externalConversationId = `crm-${randomUUID()}`;
    const sent = await client.enqueue({
      tenantId: sys.tenantId,
      externalConversationId,
      content: 'hello there',
      metadata: { ticket: '4711', channel: 'email' },
    });

    // Visible the moment enqueue returns, through the API.
    const listed = await history(sys, sent.conversationId);
    expect(listed.find((m) => m.id === sent.messageId)).toMatchObject({
      role: 'user',
      content: 'hello there',
      metadata: { ticket: '4711', channel: 'email' },
    });
    const sse = await new EventStream(sys, sent.conversationId, {
      messageId: sent.messageId,
      untilTurn: true,
    }).open();
    const first = await client.events({ messageId: sent.messageId })[Symbol.asyncIterator]().next();
    expect(first.value?.event).toEqual({ type: 'turn.queued', messageId: sent.messageId });

    const outcome = await client.waitForReply(sent.messageId);
    expect(outcome.status).toBe('completed');
    const viaSse = await sse.readUntil(() => false);
    sse.close();
    expect(viaSse.map((e) => e.type)).toContain('turn.queued');
    expect(viaSse.at(-1)?.type).toBe('turn.completed');

    const turn = await waitForTurn(sys, sent.conversationId, sent.messageId);
    expect(outcome).toMatchObject({ replyId: turn.reply!.id, content: turn.reply!.content });

    // The external id names the same conversation from now on.
    const again = await client.enqueue({
      tenantId: sys.tenantId,
      externalConversationId,
      content: 'and again',
    });
    expect(again.conversationId).toBe(sent.conversationId);
    expect((await client.waitForReply(again.messageId)).status).toBe('completed');
    const { body } = await sys.api('GET', `/v1/conversations/${sent.conversationId}`);
    expect(body).toMatchObject({ id: sent.conversationId, externalId: externalConversationId });
  });

  it('the same message enqueued twice (or concurrently) is one message and one reply', async () => {
    const conversationId = await createConversation(sys);
    const messageId = randomUUID();
    const input = { tenantId: sys.tenantId, conversationId, messageId, content: 'only once' };
    const [a, b] = await Promise.all([client.enqueue(input), client.enqueue(input)]);
    // Stored under the id scoped to the tenant (see test/e2e/direct-ids.test.ts).
    const stored = scopedMessageId(sys.tenantId, messageId);
    expect(a.messageId).toBe(stored);
    expect(b.messageId).toBe(stored);
    await client.waitForReply(stored);
    const third = await client.enqueue(input);
    expect(third).toEqual(a);
    const msgs = await history(sys, conversationId);
    expect(msgs.filter((m) => m.id === stored)).toHaveLength(1);
    expect(msgs.filter((m) => m.replyTo === stored)).toHaveLength(1);
  });

  it('events are the log, resumable from an id, and a fresh client finds a message by its id alone', async () => {
    const conversationId = await createConversation(sys);
    const messageId = await postMessage(sys, conversationId, 'through the API [[sim words=20]]');
    const { client: other, close } = systemTurnsClient(sys);
    try {
      const all = await collect(other.events({ messageId }), () => false);
      expect(all.at(-1)?.event.type).toBe('turn.completed');
      const cut = Math.floor(all.length / 2);
      const resumed = await collect(other.events({ messageId }, { after: all[cut - 1]!.id! }), () => false);
      expect(resumed).toEqual(all.slice(cut));
      const whole = await collect(other.events({ conversationId }), (e) => e.id === all.at(-1)!.id);
      expect(whole).toEqual(all);
      const outcome = await other.waitForReply(messageId);
      expect(outcome.status).toBe('completed');
    } finally {
      await close();
    }
  });

  it('cancel: a running turn ends cancelled and waitForReply says so', async () => {
    const conversationId = await createConversation(sys);
    const sent = await client.enqueue({
      tenantId: sys.tenantId,
      conversationId,
      content: 'long [[sim words=400 delay=25]]',
    });
    await collect(client.events({ messageId: sent.messageId }), (e) => e.event.type === 'chunk');
    await client.cancel(sent.messageId);
    const outcome = await client.waitForReply(sent.messageId);
    expect(outcome).toMatchObject({ status: 'cancelled', messageId: sent.messageId });
    const turn = await waitForTurn(sys, conversationId, sent.messageId);
    expect(turn.user.status).toBe('cancelled');
  });

  it('cancel: a turn queued behind a running one ends cancelled without running, and the conversation goes on', async () => {
    const conversationId = await createConversation(sys);
    const input = { tenantId: sys.tenantId, conversationId };
    const running = await client.enqueue({ ...input, content: 'first [[sim words=300 delay=20]]' });
    const queued = await client.enqueue({ ...input, content: 'second, never answered' });
    await collect(client.events({ messageId: running.messageId }), (e) => e.event.type === 'chunk');
    const before = (await sys.simRequests()).length;
    await client.cancel(queued.messageId);
    expect(await client.waitForReply(queued.messageId)).toEqual({
      status: 'cancelled',
      messageId: queued.messageId,
      replyId: null,
    });
    expect((await client.waitForReply(running.messageId)).status).toBe('completed');
    const third = await client.enqueue({ ...input, content: 'third' });
    expect((await client.waitForReply(third.messageId)).status).toBe('completed');
    // The cancelled message never reached Claude: only the first and the third did.
    expect((await sys.simRequests()).length - before).toBe(1);
    const msgs = await history(sys, conversationId);
    expect(msgs.find((m) => m.id === queued.messageId)?.status).toBe('cancelled');
    expect(msgs.filter((m) => m.replyTo === queued.messageId)).toEqual([]);
  });

  it('enqueue settles from the intake job itself when its events never reach the client', async () => {
    // A client whose QueueEvents hears nothing (a real one, on a prefix no worker uses): as if its
    // connection had missed the job's completed and failed events.
    const lossy = systemTurnsClient(sys, { enqueueTimeoutMs: 20_000 });
    const deaf = new QueueEvents(TURNS_INTAKE_QUEUE, {
      connection: lossy.redis,
      prefix: `${sys.bullPrefix}-deaf`,
    });
    try {
      await deaf.waitUntilReady();
      (lossy.client as unknown as { intakeEvents: Promise<QueueEvents> }).intakeEvents =
        Promise.resolve(deaf);
      const conversationId = await createConversation(sys);
      const sent = await lossy.client.enqueue({ tenantId: sys.tenantId, conversationId, content: 'unheard' });
      expect((await history(sys, conversationId)).map((m) => m.id)).toContain(sent.messageId);
      // A refusal is read from the failed job the same way, with its code.
      const refused = await lossy.client
        .enqueue({ tenantId: sys.tenantId, conversationId: randomUUID(), content: 'x' })
        .catch((e: unknown) => e);
      expect(refused).toMatchObject({ name: 'TurnRejectedError', code: 'conversation_not_found' });
    } finally {
      await deaf.close();
      await lossy.close();
    }
  });

  it('waitForReply gives up with a typed timeout; an aborted signal ends it too', async () => {
    const conversationId = await createConversation(sys);
    const sent = await client.enqueue({
      tenantId: sys.tenantId,
      conversationId,
      content: 'slow [[sim words=200 delay=50]]',
    });
    await expect(client.waitForReply(sent.messageId, { timeoutMs: 50 })).rejects.toBeInstanceOf(
      TurnTimeoutError,
    );
    const controller = new AbortController();
    const waiting = client.waitForReply(sent.messageId, { signal: controller.signal });
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    await client.cancel(sent.messageId);
    expect((await client.waitForReply(sent.messageId)).status).toBe('cancelled');
  });

  it('a callbackUrl on a registered endpoint origin gets the outcome as a webhook; any other is refused', async () => {
    const received: Array<{ path: string; body: string }> = [];
    const server: Server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        received.push({ path: req.url ?? '', body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const conversationId = await createConversation(sys);
      const refused = await client
        .enqueue({ tenantId: sys.tenantId, conversationId, content: 'x', callbackUrl: `${origin}/cb` })
        .catch((e: unknown) => e);
      expect(refused).toMatchObject({ name: 'TurnRejectedError', code: 'callback_url_not_registered' });
      expect(await history(sys, conversationId)).toEqual([]);

      const registered = await sys.api('POST', '/v1/webhooks', {
        url: `${origin}/hook`,
        eventTypes: ['turn.failed'],
      });
      expect(registered.status).toBe(201);
      const sent = await client.enqueue({
        tenantId: sys.tenantId,
        conversationId,
        content: 'call me back',
        callbackUrl: `${origin}/cb`,
      });
      expect((await client.waitForReply(sent.messageId)).status).toBe('completed');
      const delivery = await waitFor(() => received.find((r) => r.path === '/cb') ?? null);
      expect(delivery.body).toContain(sent.messageId);
    } finally {
      server.close();
    }
  });

  it('refusals are typed, name the field and store nothing', async () => {
    await expect(
      client.enqueue({ tenantId: sys.tenantId, conversationId: 'nope', content: 'x' }),
    ).rejects.toThrow(InvalidTurnInputError);
    await expect(
      client.enqueue({ tenantId: sys.tenantId, conversationId: randomUUID(), content: 'x'.repeat(100_001) }),
    ).rejects.toThrow(/content/);

    // Another tenant's conversation: refused by the worker, nothing stored.
    const other = await seedTenant(sys.tdb.db, 'other');
    const theirs = await createConversation(sys);
    const before = await countRows();
    const err = await client
      .enqueue({ tenantId: other.tenant.id, conversationId: theirs, content: 'not yours' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TurnRejectedError);
    expect((err as TurnRejectedError).code).toBe('conversation_not_found');
    expect(await countRows()).toEqual(before);
  });
});

async function countRows() {
  const [row] = await sys.tdb.sql<{ messages: number; conversations: number }[]>`
    select (select count(*)::int from messages) as messages, (select count(*)::int from conversations) as conversations`;
  return row;
}

import { randomUUID } from 'node:crypto';
import { hashApiKey } from '@turnstream/db';
import { SseReader } from '@turnstream/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { harnessFixture, tenantFixture } from './helpers.ts';

// Stream tokens: `new EventSource(url)` cannot send an Authorization header.
const h = harnessFixture();
const t = tenantFixture(h);
let base: string;

beforeAll(async () => {
  base = await h.listen();
});

async function conversation(key = t.keys.client): Promise<string> {
  return (await h.request('POST', '/v1/conversations', { key, body: {} })).body.id;
}

async function token(conv: string, key = t.keys.viewer) {
  return h.request('POST', `/v1/conversations/${conv}/stream-tokens`, { key });
}

describe('stream tokens', () => {
  it('opens the conversation event stream with ?token= and no header', async () => {
    const conv = await conversation();
    const issued = await token(conv);
    expect(issued.status).toBe(201);
    expect(issued.body).toMatchObject({
      token: expect.stringMatching(/^sst_/),
      expiresAt: expect.any(String),
    });
    expect(issued.body.eventsUrl).toBe(`/v1/conversations/${conv}/events?token=${issued.body.token}`);
    const m = randomUUID();
    const published = await h.streams.publish(conv, null, [{ type: 'chunk', messageId: m, text: 'hi' }]);
    const sse = new SseReader(`${base}${issued.body.eventsUrl}`, {});
    await sse.open();
    const [frame] = await sse.take(1);
    expect(frame!.id).toBe(published.ok ? published.ids[0] : '');
    sse.close();
  });

  it('is refused on another conversation, another route, when unknown, and after its key is revoked', async () => {
    const conv = await conversation();
    const other = await conversation();
    const { body } = await token(conv);
    const tok = body.token as string;
    const refused = async (url: string) => {
      const res = await fetch(`${base}${url}`);
      const json = (await res.json()) as { error: { code: string } };
      return [res.status, json.error.code];
    };
    expect(await refused(`/v1/conversations/${other}/events?token=${tok}`)).toEqual([401, 'unauthorized']);
    expect(await refused(`/v1/conversations/${conv}/messages?token=${tok}`)).toEqual([401, 'unauthorized']);
    expect(await refused(`/v1/conversations/${conv}/events?token=sst_${'x'.repeat(32)}`)).toEqual([
      401,
      'unauthorized',
    ]);
    // Revoking the key that asked for the token ends the token too.
    const revoker = await h.tenant();
    const conv2 = await conversation(revoker.keys.client);
    const tok2 = (await token(conv2, revoker.keys.viewer)).body.token as string;
    await h.tdb
      .sql`update api_keys set revoked_at = now() where key_hash = ${hashApiKey(revoker.keys.viewer)}`;
    expect(await refused(`/v1/conversations/${conv2}/events?token=${tok2}`)).toEqual([401, 'unauthorized']);
  });

  it('another tenant cannot mint a token for a conversation it cannot see', async () => {
    const conv = await conversation();
    const stranger = await h.tenant();
    const res = await token(conv, stranger.keys.viewer);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('conversation_not_found');
  });
});

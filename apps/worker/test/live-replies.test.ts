import { endReply, getReply, type Message, startReply } from '@turnstream/db';
import { createTestDatabase, seedTenant, seedTurn, type TestDatabase } from '@turnstream/db/testing';
import { waitFor } from '@turnstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LiveReplyWrite, LiveReplyWriter, nextPersistDelayMs } from '../src/live-replies.ts';

let tdb: TestDatabase;
let tenantId: string;

beforeAll(async () => {
  tdb = await createTestDatabase();
  tenantId = (await seedTenant(tdb.db)).tenant.id;
});
afterAll(async () => {
  await tdb.drop();
});

/** A conversation with one user message and its streaming reply owned by `fence`. */
async function streamingReply(fence: number): Promise<{ user: Message; reply: Message }> {
  return seedTurn(tdb.db, { tenantId, fence });
}

function entry(reply: Message, content: string, fencedOut: string[]): LiveReplyWrite {
  return { replyId: reply.id, fence: reply.fence, content, onFencedOut: () => fencedOut.push(reply.id) };
}

/** A writer with one streaming reply whose first partial, `text`, has landed. */
async function writtenOnce(text: string) {
  const writer = new LiveReplyWriter({ db: tdb.db, intervalMs: 20 });
  const { reply } = await streamingReply(1);
  const fencedOut: string[] = [];
  const w = entry(reply, text, fencedOut);
  writer.write(w);
  await waitFor(async () => (await row(reply.id)).content === text);
  return { writer, reply, w, fencedOut };
}

async function row(id: string) {
  const [r] = await tdb.sql<{ content: string; updated_at: string }[]>`
    select content, updated_at::text as updated_at from messages where id = ${id}`;
  return r!;
}

describe('LiveReplyWriter', () => {
  it('spaces its ticks out when the last one wrote more rows than the budget allows per interval', () => {
    expect(nextPersistDelayMs(250, 0, 2000)).toBe(250);
    expect(nextPersistDelayMs(250, 500, 2000)).toBe(250);
    expect(nextPersistDelayMs(250, 1000, 2000)).toBe(500);
    expect(nextPersistDelayMs(250, 2000, 2000)).toBe(1000);
  });

  it('plans its next tick from the rows the last one wrote', async () => {
    const writer = new LiveReplyWriter({ db: tdb.db, intervalMs: 20, maxRowsPerSecond: 2 });
    const turns = await Promise.all([1, 2, 3].map(() => streamingReply(1)));
    expect(writer.nextDelayMs).toBe(20);
    for (const t of turns) writer.write(entry(t.reply, 'part', []));
    await waitFor(async () => (await row(turns[2]!.reply.id)).content === 'part');
    // Three rows at two a second: the next tick comes 1.5 s after this one.
    expect(writer.nextDelayMs).toBe(1500);
    await writer.close();
  });

  it("writes every waiting reply's newest partial in one statement per tick", async () => {
    const writer = new LiveReplyWriter({ db: tdb.db, intervalMs: 20 });
    const turns = await Promise.all([1, 2, 3].map(() => streamingReply(1)));
    const fencedOut: string[] = [];
    for (const [i, t] of turns.entries()) {
      writer.write(entry(t.reply, `first ${i}`, fencedOut));
      writer.write(entry(t.reply, `newest ${i}`, fencedOut));
    }
    await waitFor(async () => (await row(turns[2]!.reply.id)).content === 'newest 2');
    const rows = await Promise.all(turns.map((t) => row(t.reply.id)));
    expect(rows.map((r) => r.content)).toEqual(['newest 0', 'newest 1', 'newest 2']);
    // now() is the statement's transaction time: one statement wrote them all.
    expect(new Set(rows.map((r) => r.updated_at)).size).toBe(1);
    expect(fencedOut).toEqual([]);
    await writer.close();
  });

  it('a reply taken over by a newer fence is reported fenced out and keeps the newer content', async () => {
    const writer = new LiveReplyWriter({ db: tdb.db, intervalMs: 20 });
    const { user, reply } = await streamingReply(5);
    const takeover = await startReply(tdb.db, {
      tenantId,
      conversationId: reply.conversationId,
      userMessageId: user.id,
      fence: 6,
      mode: 'stream',
    });
    expect(takeover.kind).toBe('started');
    const fencedOut: string[] = [];
    writer.write(entry(reply, 'zombie text', fencedOut));
    await waitFor(() => fencedOut.length > 0);
    expect(fencedOut).toEqual([reply.id]);
    expect((await getReply(tdb.db, user.id))?.content).toBe('');
    await writer.close();
  });

  it('a write that comes due after the turn ended its reply changes nothing and is no fence loss', async () => {
    const writer = new LiveReplyWriter({ db: tdb.db, intervalMs: 20 });
    const { user, reply } = await streamingReply(3);
    await endReply(tdb.db, { replyId: reply.id, fence: 3, status: 'cancelled', content: 'kept' });
    const fencedOut: string[] = [];
    const other = await streamingReply(3);
    writer.write(entry(reply, 'late partial', fencedOut));
    writer.write(entry(other.reply, 'marker', fencedOut));
    await waitFor(async () => (await row(other.reply.id)).content === 'marker');
    await writer.close();
    expect(fencedOut).toEqual([]);
    expect(await getReply(tdb.db, user.id)).toMatchObject({ status: 'cancelled', content: 'kept' });
  });

  it('a forgotten reply is not written afterwards', async () => {
    const writer = new LiveReplyWriter({ db: tdb.db, intervalMs: 20 });
    const gone = await streamingReply(1);
    const kept = await streamingReply(1);
    const fencedOut: string[] = [];
    writer.write(entry(gone.reply, 'must not land', fencedOut));
    await writer.forget(gone.reply.id, gone.reply.fence);
    writer.write(entry(kept.reply, 'landed', fencedOut));
    await waitFor(async () => (await row(kept.reply.id)).content === 'landed');
    await writer.close();
    expect((await row(gone.reply.id)).content).toBe('');
  });

  it('a reply row locked by another transaction holds up no other reply, and is written once free', async () => {
    const writer = new LiveReplyWriter({ db: tdb.db, intervalMs: 20 });
    const busy = await streamingReply(1);
    const free = await streamingReply(1);
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const holder = tdb.sql.begin(async (sql) => {
      await sql`select id from messages where id = ${busy.reply.id} for no key update`;
      locked();
      await released;
    });
    await isLocked;
    const fencedOut: string[] = [];
    writer.write(entry(busy.reply, 'written later', fencedOut));
    writer.write(entry(free.reply, 'written now', fencedOut));
    await waitFor(async () => (await row(free.reply.id)).content === 'written now');
    expect((await row(busy.reply.id)).content).toBe('');
    release();
    await holder;
    // No new partial was handed in: the skipped write itself is tried again.
    await waitFor(async () => (await row(busy.reply.id)).content === 'written later');
    await writer.close();
    expect(fencedOut).toEqual([]);
  });

  it('appends what is new since the last write that landed, not the whole partial', async () => {
    const { writer, reply, w, fencedOut } = await writtenOnce('hello');
    // Same length, other text: a later write appends to it (a whole rewrite would not keep it).
    await tdb.sql`update messages set content = 'HELLO' where id = ${reply.id}`;
    w.content = 'hello world';
    writer.write(w);
    await waitFor(async () => (await row(reply.id)).content === 'HELLO world');
    await writer.close();
    expect(fencedOut).toEqual([]);
  });

  it('writes the whole partial again when the row does not hold what was last written', async () => {
    const { writer, reply, w, fencedOut } = await writtenOnce('hello');
    await tdb.sql`update messages set content = 'x' where id = ${reply.id}`;
    w.content = 'hello world';
    writer.write(w);
    // The append finds another length: not written, still ours and streaming, so written whole.
    await waitFor(async () => (await row(reply.id)).content === 'hello world');
    await writer.close();
    expect(fencedOut).toEqual([]);
  });

  it('a partial that restarts (does not extend the last write) is written whole', async () => {
    const { writer, reply, w, fencedOut } = await writtenOnce('first attempt text');
    w.content = '';
    writer.write(w);
    await waitFor(async () => (await row(reply.id)).content === '');
    w.content = 'second';
    writer.write(w);
    await waitFor(async () => (await row(reply.id)).content === 'second');
    await writer.close();
    expect(fencedOut).toEqual([]);
  });

  it('counts multi-byte text in bytes, and never splits a character between two writes', async () => {
    const { writer, reply, w, fencedOut } = await writtenOnce('café 😀');
    // As many bytes, other text: appends land on it only if the writer counted bytes as Postgres does.
    await tdb.sql`update messages set content = 'CAFÉ 😀' where id = ${reply.id}`;
    const before = (await row(reply.id)).updated_at;
    // The first half of a surrogate pair: what comes before it is written, it waits for its other half.
    w.content = 'café 😀 \uD83D';
    writer.write(w);
    await waitFor(async () => (await row(reply.id)).updated_at !== before);
    expect((await row(reply.id)).content).toBe('CAFÉ 😀 ');
    w.content = 'café 😀 \uD83D\uDE00 ü';
    writer.write(w);
    await waitFor(async () => (await row(reply.id)).content === 'CAFÉ 😀 😀 ü');
    await writer.close();
    expect(fencedOut).toEqual([]);
  });

  it('writes more replies than one statement holds, in several statements of the same tick', async () => {
    const writer = new LiveReplyWriter({ db: tdb.db, intervalMs: 20, maxBatch: 2 });
    const turns = await Promise.all([1, 2, 3, 4, 5].map(() => streamingReply(1)));
    const fencedOut: string[] = [];
    for (const t of turns) writer.write(entry(t.reply, `text of ${t.reply.id}`, fencedOut));
    await waitFor(async () => {
      const rows = await Promise.all(turns.map((t) => row(t.reply.id)));
      return rows.every((r, i) => r.content === `text of ${turns[i]!.reply.id}`);
    });
    await writer.close();
    expect(fencedOut).toEqual([]);
  });
});

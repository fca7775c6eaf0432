import { turnEventSchema } from '@turnstream/contracts';
import { describe, expect, it } from 'vitest';
import { TurnList } from '../web/src/turns.ts';
import { EVENT_TYPES, type MessageJson, type StreamEvent } from '../web/src/types.ts';

// The playground's model of a conversation: stored history merged with live events.
let seq = 0;
function message(fields: Partial<MessageJson> & Pick<MessageJson, 'id' | 'role'>): MessageJson {
  return {
    seq: ++seq,
    content: '',
    status: 'completed',
    replyTo: null,
    mode: 'stream',
    errorCode: null,
    stopReason: null,
    usage: null,
    ...fields,
  };
}
let eventSeq = 0;
const ev = (type: string, data: Record<string, unknown>): StreamEvent => ({
  id: `1764000000000-${eventSeq++}`,
  type,
  data: { type, ...data },
});

describe('TurnList', () => {
  it('builds turns from the history: each user message with its reply, in seq order', () => {
    const turns = new TurnList();
    turns.mergeHistory([
      message({ id: 'u2', role: 'user', seq: 3, content: 'second', status: 'pending' }),
      message({ id: 'r2', role: 'assistant', seq: 4, replyTo: 'u2', content: 'par', status: 'streaming' }),
      message({ id: 'u1', role: 'user', seq: 1, content: 'first' }),
      message({
        id: 'r1',
        role: 'assistant',
        seq: 2,
        replyTo: 'u1',
        content: 'hello',
        stopReason: 'end_turn',
      }),
      message({ id: 'u3', role: 'user', seq: 5, content: 'third', status: 'failed' }),
      message({
        id: 'e3',
        role: 'error',
        seq: 6,
        replyTo: 'u3',
        content: 'Claude refused',
        status: 'failed',
      }),
      message({ id: 'u4', role: 'user', seq: 7, content: 'fourth', status: 'pending' }),
    ]);
    expect(turns.list().map((t) => [t.messageId, t.status, t.reply, t.error])).toEqual([
      ['u1', 'completed', 'hello', null],
      ['u2', 'streaming', 'par', null],
      ['u3', 'failed', '', 'Claude refused'],
      ['u4', 'pending', '', null],
    ]);
  });

  it('grows a reply chunk by chunk and ends it with the full text', () => {
    const turns = new TurnList();
    turns.addPosted('m', 'hi', 'stream');
    turns.apply(ev('turn.queued', { messageId: 'm' }));
    turns.apply(ev('turn.started', { messageId: 'm', replyId: 'r', attempt: 1 }));
    expect(turns.get('m')).toMatchObject({ status: 'streaming', reply: '' });
    turns.apply(ev('chunk', { messageId: 'm', text: 'Hel' }));
    turns.apply(ev('chunk', { messageId: 'm', text: 'lo' }));
    expect(turns.get('m')!.reply).toBe('Hello');
    const done = turns.apply(
      ev('turn.completed', { messageId: 'm', replyId: 'r', content: 'Hello!', stopReason: 'end_turn' }),
    );
    expect(done).toMatchObject({ terminal: true, sessionChanged: true, reload: false });
    expect(turns.get('m')).toMatchObject({
      status: 'completed',
      reply: 'Hello!',
      replyId: 'r',
      stopReason: 'end_turn',
    });
  });

  it('restarts the reply on turn.reset and on a new attempt; a retry or a rate limit waits, a failure ends it', () => {
    const turns = new TurnList();
    turns.addPosted('m', 'hi', 'stream');
    turns.apply(ev('turn.started', { messageId: 'm', replyId: 'r', attempt: 1 }));
    turns.apply(ev('chunk', { messageId: 'm', text: 'partial' }));
    turns.apply(ev('turn.reset', { messageId: 'm', reason: 'overloaded' }));
    expect(turns.get('m')).toMatchObject({ reply: '', status: 'streaming' });
    const retryAt = new Date(Date.now() + 2000).toISOString();
    const retrying = turns.apply(
      ev('turn.retrying', { messageId: 'm', code: 'overloaded', attempt: 1, retryAt }),
    );
    expect(retrying.terminal).toBe(false);
    expect(turns.get('m')).toMatchObject({
      status: 'pending',
      note: expect.stringContaining('attempt 1 failed (overloaded)'),
    });
    turns.apply(ev('turn.started', { messageId: 'm', replyId: 'r', attempt: 2 }));
    turns.apply(ev('chunk', { messageId: 'm', text: 'again' }));
    expect(turns.get('m')).toMatchObject({
      reply: 'again',
      attempt: 2,
      note: 'attempt 2',
      status: 'streaming',
    });
    expect(turns.apply(ev('turn.rate_limited', { messageId: 'm', retryAt })).terminal).toBe(false);
    expect(turns.get('m')).toMatchObject({
      status: 'pending',
      note: expect.stringContaining('rate limited'),
    });
    const failed = turns.apply(
      ev('turn.failed', { messageId: 'm', code: 'transient_exhausted', error: 'gave up' }),
    );
    expect(failed.terminal).toBe(true);
    expect(turns.get('m')).toMatchObject({ status: 'failed', error: 'gave up (transient_exhausted)' });
  });

  it('listens to every event type the API sends', () => {
    const sent = turnEventSchema.options.map((o) => o.shape.type.value);
    expect(new Set(EVENT_TYPES)).toEqual(new Set([...sent, 'stream.gap', 'stream.overflow']));
  });

  it('keeps a cancelled partial; a session clear asks for the session again', () => {
    const turns = new TurnList();
    turns.addPosted('m', 'hi', 'stream');
    turns.apply(ev('turn.started', { messageId: 'm', replyId: 'r', attempt: 1 }));
    const cleared = turns.apply(
      ev('session.cleared', { messageId: 'm', reason: 'invalid_thinking_signature' }),
    );
    expect(cleared).toMatchObject({ sessionChanged: true, terminal: false });
    turns.apply(ev('chunk', { messageId: 'm', text: 'so far' }));
    expect(turns.apply(ev('turn.cancelled', { messageId: 'm', replyId: 'r' })).terminal).toBe(true);
    expect(turns.get('m')).toMatchObject({ status: 'cancelled', reply: 'so far' });
  });

  it('ignores replayed events of a turn the history shows as ended', () => {
    const turns = new TurnList();
    turns.mergeHistory([
      message({ id: 'u', role: 'user', content: 'q' }),
      message({ id: 'r', role: 'assistant', replyTo: 'u', content: 'the answer' }),
    ]);
    for (const e of [
      ev('turn.started', { messageId: 'u', replyId: 'r', attempt: 1 }),
      ev('chunk', { messageId: 'u', text: 'the' }),
    ]) {
      expect(turns.apply(e).turn).toBeNull();
    }
    expect(turns.get('u')).toMatchObject({ status: 'completed', reply: 'the answer' });
  });

  it('an unknown message asks for the history, which fills it in', () => {
    const turns = new TurnList();
    const r = turns.apply(ev('turn.queued', { messageId: 'x' }));
    expect(r.reload).toBe(true);
    expect(turns.hasUnknownContent()).toBe(true);
    turns.mergeHistory([message({ id: 'x', role: 'user', content: 'from elsewhere', status: 'pending' })]);
    expect(turns.hasUnknownContent()).toBe(false);
    expect(turns.get('x')).toMatchObject({ content: 'from elsewhere', status: 'pending' });
    expect(turns.apply(ev('stream.gap', { after: '1-0', oldestId: '2-0' })).reload).toBe(true);
  });

  it('an older snapshot never moves a live turn back; a final one wins', () => {
    const turns = new TurnList();
    turns.addPosted('m', 'hi', 'stream');
    turns.apply(ev('turn.started', { messageId: 'm', replyId: 'r', attempt: 1 }));
    turns.apply(ev('chunk', { messageId: 'm', text: 'live text' }));
    turns.mergeHistory([message({ id: 'm', role: 'user', content: 'hi', status: 'pending' })]);
    expect(turns.get('m')).toMatchObject({ status: 'streaming', reply: 'live text' });
    turns.mergeHistory([
      message({ id: 'm', role: 'user', content: 'hi', status: 'completed' }),
      message({
        id: 'r',
        role: 'assistant',
        replyTo: 'm',
        content: 'live text, done',
        usage: { inputTokens: 3, outputTokens: 4 },
      }),
    ]);
    expect(turns.get('m')).toMatchObject({
      status: 'completed',
      reply: 'live text, done',
      usage: { inputTokens: 3, outputTokens: 4 },
    });
  });
});

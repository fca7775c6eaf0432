import { describe, expect, it } from 'vitest';
import { MissingReplyError, turnEndEvent } from '../src/index.ts';

const user = (status: string) => ({ id: 'm1', status, content: 'q' });

describe('turnEndEvent', () => {
  it('is null while the turn is not over', () => {
    expect(turnEndEvent(user('pending'), null)).toBeNull();
  });

  it('a completed turn ends with its reply: id, content and stop reason', () => {
    const reply = { id: 'r1', status: 'completed', content: 'a', stopReason: 'end_turn' };
    expect(turnEndEvent(user('completed'), reply)).toEqual({
      type: 'turn.completed',
      messageId: 'm1',
      replyId: 'r1',
      content: 'a',
      stopReason: 'end_turn',
    });
  });

  it('a completed turn without its reply row throws MissingReplyError instead of an empty reply id', () => {
    expect(() => turnEndEvent(user('completed'), null)).toThrow(MissingReplyError);
    expect(() => turnEndEvent(user('completed'), null)).toThrow(/^reply_missing: .*m1/);
  });

  it('a cancelled turn may have no reply; a failed one without its error row has a generic error', () => {
    expect(turnEndEvent(user('cancelled'), null)).toEqual({
      type: 'turn.cancelled',
      messageId: 'm1',
      replyId: null,
    });
    expect(turnEndEvent(user('failed'), null)).toEqual({
      type: 'turn.failed',
      messageId: 'm1',
      code: 'failed',
      error: 'The message failed.',
    });
  });
});

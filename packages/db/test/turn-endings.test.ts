import { describe, expect, it } from 'vitest';
import { cancelTurn, failTurn, getMessage, getReply, interruptTurn, listAttempts } from '../src/index.ts';
import { conversationFixture, newConversation, runningTurn } from './conversation-fixture.ts';

const f = conversationFixture();

/** A user message whose turn runs under `fence`: reply row streaming with a partial, attempt open. */
async function running(fence: number) {
  const t = await runningTurn(f, fence, { partial: 'half a rep' });
  return { ...t, ref: { tenantId: f.tenantId, conversationId: t.conversationId, messageId: t.messageId } };
}

async function state(messageId: string) {
  const user = await getMessage(f.tdb.db, f.tenantId, messageId);
  const reply = await getReply(f.tdb.db, messageId);
  const attempts = await listAttempts(f.tdb.db, f.tenantId, messageId);
  return {
    user: user?.status,
    reply: reply && { status: reply.status, role: reply.role, content: reply.content, code: reply.errorCode },
    attempts: attempts.map((a) => a.outcome),
  };
}

describe('turn endings (one transaction each)', () => {
  it('a fail by a stale fence writes nothing at all: user pending, reply streaming, attempt open', async () => {
    const t = await running(5);
    const res = await failTurn(f.tdb.db, {
      ...t.ref,
      errorCode: 'claude_auth',
      content: 'readable',
      owner: { fence: 4, replyId: t.replyId, attemptId: t.attemptId },
    });
    expect(res).toMatchObject({ ok: false, reason: 'fenced_out' });
    expect(await state(t.messageId)).toEqual({
      user: 'pending',
      reply: { status: 'streaming', role: 'assistant', content: 'half a rep', code: null },
      attempts: [null],
    });
  });

  it('a fail by the owner ends all three: error row, user failed, attempt failed', async () => {
    const t = await running(5);
    const res = await failTurn(f.tdb.db, {
      ...t.ref,
      errorCode: 'claude_auth',
      content: 'readable',
      detail: '401',
      owner: { fence: 5, replyId: t.replyId, attemptId: t.attemptId },
    });
    expect(res.ok).toBe(true);
    expect(await state(t.messageId)).toEqual({
      user: 'failed',
      reply: { status: 'failed', role: 'error', content: 'readable', code: 'claude_auth' },
      attempts: ['failed'],
    });
  });

  it('the owner cancelling keeps its partial as the cancelled reply; a second cancel finds it final', async () => {
    const t = await running(3);
    const owner = { fence: 3, replyId: t.replyId, attemptId: t.attemptId, content: 'half a reply' };
    expect((await cancelTurn(f.tdb.db, { ...t.ref, owner })).ok).toBe(true);
    expect(await state(t.messageId)).toEqual({
      user: 'cancelled',
      reply: { status: 'cancelled', role: 'assistant', content: 'half a reply', code: null },
      attempts: ['cancelled'],
    });
    expect(await cancelTurn(f.tdb.db, t.ref)).toMatchObject({ ok: false, reason: 'already_final' });
  });

  it('an interrupt ends the attempt only; a cancel with no owner (the API) then ends the turn', async () => {
    const t = await running(2);
    const owner = { fence: 2, replyId: t.replyId, attemptId: t.attemptId };
    const res = await interruptTurn(f.tdb.db, {
      ...t.ref,
      owner,
      content: 'part',
      outcome: 'retrying',
      errorCode: 'transient',
    });
    expect(res.ok).toBe(true);
    expect(await state(t.messageId)).toMatchObject({
      user: 'pending',
      reply: { status: 'interrupted', content: 'part' },
      attempts: ['retrying'],
    });
    expect((await cancelTurn(f.tdb.db, t.ref)).ok).toBe(true);
    expect(await state(t.messageId)).toMatchObject({
      user: 'cancelled',
      reply: { status: 'cancelled', content: 'part' },
    });
  });

  it('the failed handler (no owner) fails a turn whose worker died: error row, its open attempt lost', async () => {
    const t = await running(7);
    const res = await failTurn(f.tdb.db, { ...t.ref, errorCode: 'stall_exhausted', content: 'readable' });
    expect(res.ok).toBe(true);
    expect(await state(t.messageId)).toEqual({
      user: 'failed',
      reply: { status: 'failed', role: 'error', content: 'readable', code: 'stall_exhausted' },
      attempts: ['lost'],
    });
  });

  it('a message of another conversation is not found, and nothing is written', async () => {
    const t = await running(1);
    const other = await newConversation(f);
    const res = await failTurn(f.tdb.db, { ...t.ref, conversationId: other, errorCode: 'x', content: 'y' });
    expect(res).toMatchObject({ ok: false, reason: 'not_found' });
    expect((await state(t.messageId)).user).toBe('pending');
  });
});

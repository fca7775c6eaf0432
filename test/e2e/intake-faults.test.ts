import { randomUUID } from 'node:crypto';
import { type ManagedProcess, waitFor } from '@turnstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, history } from '../support/turns.ts';
import { type SystemTurnsClient, systemTurnsClient } from '../support/turns-client.ts';

// Issue 11: the intake under a frozen worker. Intake jobs the frozen worker holds move on to the other
// one when their lock expires; every enqueue returns, every message is stored once and answered once.
const sys = systemFixture({
  workers: 2,
  workerEnv: { LOCK_DURATION_MS: '1500', STALLED_INTERVAL_MS: '500' },
});
let turns: SystemTurnsClient;
beforeAll(async () => {
  turns = systemTurnsClient(sys, { enqueueTimeoutMs: 60_000 });
});
afterAll(async () => {
  for (const w of sys.workers) w.signal('SIGCONT');
  await turns?.close();
});

describe('intake under faults', () => {
  it('a worker frozen while it holds intake jobs delays them, loses none and duplicates none', async () => {
    const [w1, w2] = sys.workers as [ManagedProcess, ManagedProcess];
    const { client } = turns;
    const conversations = await Promise.all(Array.from({ length: 30 }, () => createConversation(sys)));
    const inputs = Array.from({ length: 150 }, (_, i) => ({
      tenantId: sys.tenantId,
      conversationId: conversations[i % conversations.length]!,
      messageId: randomUUID(),
      content: `message ${i} [[sim words=3]]`,
    }));
    // Only the first worker takes intake jobs; freeze it once it is at work, then let the second one go.
    w2.signal('SIGSTOP');
    const sending = inputs.map((input) => client.enqueue(input));
    await waitFor(() => w1.lines.some((l) => l.event === 'intake.accept_completed'), { intervalMs: 1 });
    w1.signal('SIGSTOP');
    w2.signal('SIGCONT');
    const sent = await Promise.all(sending);
    expect(w2.lines.some((l) => l.event === 'intake.job_stalled')).toBe(true);
    // The same messages again while the first worker is still frozen: nothing new.
    await Promise.all(inputs.slice(0, 10).map((input) => client.enqueue(input)));
    const outcomes = await Promise.all(sent.map((s) => client.waitForReply(s.messageId)));
    w1.signal('SIGCONT');
    expect(outcomes.map((o) => o.status)).toEqual(inputs.map(() => 'completed'));
    for (const conversationId of conversations) {
      const msgs = await history(sys, conversationId);
      const users = msgs.filter((m) => m.role === 'user');
      expect(users).toHaveLength(inputs.length / conversations.length);
      for (const u of users) expect(msgs.filter((m) => m.replyTo === u.id)).toHaveLength(1);
    }
  });
});

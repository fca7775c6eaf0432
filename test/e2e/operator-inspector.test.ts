import { createApiKey, setTenantOperator } from '@turnstream/db';
import { parsePrometheusText, sampleValue } from '@turnstream/telemetry/testing';
import { waitFor } from '@turnstream/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { addFaults } from '../support/sim-faults.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, history, postMessage, waitForTurn } from '../support/turns.ts';

// The conversation inspector on the real system: a recovered session, a failure loop, the reset and
// retry actions and their audit trail.
describe('conversation inspector', () => {
  const sys = systemFixture();
  let viewerKey: string;
  beforeAll(async () => {
    await setTenantOperator(sys.tdb.db, sys.tenantId, true);
    viewerKey = (await createApiKey(sys.tdb.db, { tenantId: sys.tenantId, role: 'viewer' })).key;
  });

  const admin = async (method: string, path: string, key = sys.apiKey, accept = 'application/json') => {
    const res = await fetch(`${sys.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, accept },
    });
    const text = await res.text();
    const json = res.headers.get('content-type')?.includes('json');
    // biome-ignore lint/suspicious/noExplicitAny: asserted field by field
    const body: any = json ? JSON.parse(text) : null;
    return { status: res.status, text, body };
  };

  it("shows a recovered conversation's two assistant sessions, the first tombstoned with its reason", async () => {
    const conv = await createConversation(sys, { thinking: { budgetTokens: 1024 } });
    const first = await postMessage(sys, conv, 'first question');
    expect((await waitForTurn(sys, conv, first)).user.status).toBe('completed');
    expect((await sys.sim_('/__sim/rotate-signing-key', { method: 'POST' })).ok).toBe(true);
    const second = await postMessage(sys, conv, 'second question');
    expect((await waitForTurn(sys, conv, second)).user.status).toBe('completed');

    const view = await admin('GET', `/admin/api/conversations/${conv}`, viewerKey);
    expect(view.status).toBe(200);
    const [old, fresh] = view.body.assistantSessions;
    expect(view.body.assistantSessions).toHaveLength(2);
    expect(old).toMatchObject({ status: 'cleared', rebuilt: false });
    expect(old.clearedReason).toEqual(expect.any(String));
    expect(fresh).toMatchObject({ status: 'live', rebuilt: true });
    expect(view.body.sessions[0].assistantSessionId).toBe(fresh.id);
    expect(view.body.attempts.map((a: { outcome: string }) => a.outcome)).toEqual(['completed', 'completed']);
    expect(view.body.attempts[1].assistantSessionId).toBe(old.id);
    // No content on the inspector.
    expect(view.text).not.toContain('first question');

    const page = await admin('GET', `/admin/conversations/${conv}`, viewerKey, 'text/html');
    expect(page.status).toBe(200);
    expect(page.text).toContain(old.id);
    expect(page.text).toContain('tombstoned');
    expect(page.text).toContain(old.clearedReason);
    expect(page.text).not.toContain('first question');
  });

  it('lists a conversation in a failure loop, and its reset and retry actions work and are audited', async () => {
    await addFaults(sys, [{ fault: 'permission', times: 3, match: { contains: 'LOOPME' } }]);
    const conv = await createConversation(sys);
    const failed: string[] = [];
    for (let i = 0; i < 3; i++) {
      const id = await postMessage(sys, conv, `LOOPME ${i}`);
      expect((await waitForTurn(sys, conv, id)).user.status).toBe('failed');
      failed.push(id);
    }
    const healthy = await createConversation(sys);
    await waitForTurn(sys, healthy, await postMessage(sys, healthy, 'fine'));

    const trouble = await admin('GET', '/admin/api/trouble', viewerKey);
    expect(trouble.status).toBe(200);
    const loop = trouble.body.failureLoops.find((l: { conversationId: string }) => l.conversationId === conv);
    expect(loop).toMatchObject({ failures: 3, tenantId: sys.tenantId });
    expect(trouble.body.failureLoops.map((l: { conversationId: string }) => l.conversationId)).not.toContain(
      healthy,
    );
    const page = await admin('GET', '/admin/trouble', viewerKey, 'text/html');
    expect(page.text).toContain(conv);
    const scrape = await admin('GET', '/metrics', viewerKey, 'text/plain');
    expect(
      sampleValue(parsePrometheusText(scrape.text), 'turnstream_trouble_conversations', {
        kind: 'failure_loop',
      }),
    ).toBe(1);
    const otherTenant = await admin(
      'GET',
      '/admin/api/trouble?tenant=00000000-0000-4000-8000-000000000000',
      viewerKey,
    );
    expect(otherTenant.body.failureLoops).toEqual([]);

    // A viewer cannot act.
    expect((await admin('POST', `/admin/api/conversations/${conv}/reset`, viewerKey)).status).toBe(403);
    expect(
      (await admin('POST', `/admin/api/conversations/${conv}/messages/${failed[2]}/retry`, viewerKey)).status,
    ).toBe(403);

    const before = await admin('GET', `/admin/api/conversations/${conv}`);
    const reset = await admin('POST', `/admin/api/conversations/${conv}/reset`);
    expect(reset.status).toBe(200);
    expect(reset.body.session.id).not.toBe(before.body.sessions[0].id);
    const retry = await admin('POST', `/admin/api/conversations/${conv}/messages/${failed[2]}/retry`);
    expect(retry.status).toBe(202);
    const answered = await waitForTurn(sys, conv, retry.body.messageId);
    expect(answered.user.status).toBe('completed');
    expect(answered.user.content).toBe('LOOPME 2');
    // A completed turn cannot be "retried".
    expect(
      (await admin('POST', `/admin/api/conversations/${conv}/messages/${retry.body.messageId}/retry`)).status,
    ).toBe(409);

    const after = await admin('GET', `/admin/api/conversations/${conv}`);
    expect(after.body.sessions).toHaveLength(2);
    expect(after.body.sessions[0]).toMatchObject({ status: 'ended', endedReason: 'operator_reset' });
    expect(after.body.sessions[1]).toMatchObject({
      status: 'active',
      parentSessionId: after.body.sessions[0].id,
    });
    expect(after.body.audit.map((a: { action: string }) => a.action)).toEqual([
      'turn.retry',
      'session.reset',
    ]);
    expect(after.body.audit[0].actor).toMatchObject({ role: 'admin', keyPrefix: sys.apiKey.slice(0, 12) });
    const auditPage = await admin('GET', `/admin/conversations/${conv}`, viewerKey, 'text/html');
    expect(auditPage.text).toContain('session.reset');
    expect(auditPage.text).toContain('turn.retry');
    expect((await history(sys, conv)).filter((m) => m.role === 'user')).toHaveLength(4);
  });

  it('cancels a running turn from the inspector', async () => {
    const conv = await createConversation(sys);
    const id = await postMessage(sys, conv, 'a long one [[sim words=400 delay=20]]');
    await waitFor(
      async () => (await history(sys, conv)).some((m) => m.replyTo === id && m.status === 'streaming'),
      {
        message: 'reply streaming',
      },
    );
    const res = await admin('POST', `/admin/api/conversations/${conv}/messages/${id}/cancel`);
    expect([200, 202]).toContain(res.status);
    expect((await waitForTurn(sys, conv, id)).user.status).toBe('cancelled');
    const view = await admin('GET', `/admin/api/conversations/${conv}`);
    expect(view.body.audit[0]).toMatchObject({ action: 'turn.cancel', messageId: id });
  });
});

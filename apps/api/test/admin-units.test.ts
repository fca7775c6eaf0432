import { describe, expect, it } from 'vitest';
import { classifyBoardWrite } from '../src/admin/board-writes.ts';
import { esc, html } from '../src/admin/html.ts';
import { safeNext } from '../src/admin/login.ts';
import { redactJobData, redactReturnValue } from '../src/admin/redact.ts';
import { retryMessageId } from '../src/admin/turn-actions.ts';

describe('admin helpers', () => {
  it('redacts job data by allow-list', () => {
    expect(
      redactJobData({ v: 1, messageId: 'm', content: 'secret text', apiKey: 'sk', nested: { content: 'x' } }),
    ).toEqual({
      v: 1,
      messageId: 'm',
      content: '[redacted: 11 chars]',
      apiKey: '[redacted]',
      nested: '[redacted]',
    });
    expect(redactJobData('raw string')).toBe('[redacted]');
    expect(redactJobData(null)).toBeNull();
    expect(redactReturnValue({ outcome: 'completed', replyId: 'r', content: 'x' })).toEqual({
      outcome: 'completed',
      replyId: 'r',
      content: '[redacted]',
    });
  });

  it("classifies bull-board's write routes", () => {
    const api = '/admin/queues/api/queues';
    expect(classifyBoardWrite(`${api}/:queueName/:jobId/clean`, { queueName: 'turns', jobId: 'j' })).toEqual({
      kind: 'job_remove',
      queueName: 'turns',
      jobId: 'j',
    });
    expect(
      classifyBoardWrite(`${api}/:queueName/clean/:queueStatus`, { queueName: 'turns', queueStatus: 'wait' }),
    ).toEqual({
      kind: 'queue_clean',
      queueName: 'turns',
      status: 'wait',
    });
    expect(classifyBoardWrite(`${api}/:queueName/pause`, { queueName: 'turns' }).kind).toBe('other');
  });

  it('follows only admin paths after sign-in', () => {
    expect(safeNext('/admin/queues')).toBe('/admin/queues');
    for (const bad of [
      '//evil.example',
      'https://evil.example/admin',
      '/v1/conversations',
      '/admin\r\nx',
      undefined,
    ]) {
      expect(safeNext(bad)).toBe('/admin/trouble');
    }
  });

  it('escapes everything interpolated into pages', () => {
    expect(esc(`<script>"'&`)).toBe('&lt;script&gt;&quot;&#39;&amp;');
    expect(html`<td>${'<b>'}</td>${[html`<i>${'&'}</i>`]}`.value).toBe('<td>&lt;b&gt;</td><i>&amp;</i>');
  });

  it('derives one retry id per message, a valid UUID', () => {
    const a = retryMessageId('0f8c7d2e-0000-4000-8000-000000000001');
    expect(a).toBe(retryMessageId('0f8c7d2e-0000-4000-8000-000000000001'));
    expect(a).not.toBe(retryMessageId('0f8c7d2e-0000-4000-8000-000000000002'));
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

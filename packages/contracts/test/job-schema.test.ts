import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { turnJobJsonSchema } from '../src/job-schema.ts';
import { describeJobIssues, parseIntakeJob, parseTurnJob, turnJobSchema } from '../src/turn-job.ts';

const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8');
const fixtures = JSON.parse(read('./fixtures/producer-jobs.json')) as {
  valid: Array<{ name: string; job: Record<string, unknown> }>;
};
const base = {
  v: 2,
  tenantId: '0b8e6c1e-3f0a-4c59-9d0e-0d7f2f4b9a11',
  conversationId: '7d0f3c2a-1b4e-4f6a-9c8d-2e5b7a9f1c33',
  messageId: '5f2c3a9e-8d1b-4e47-b6a0-2b9f3c7d1e55',
  content: 'hi',
};

function reasonFor(job: unknown): string {
  const parsed = turnJobSchema.safeParse(job);
  expect(parsed.success).toBe(false);
  return parsed.success ? '' : describeJobIssues(parsed.error);
}

describe('turn job schema', () => {
  it('job-schema.json is generated from the zod schema (run `pnpm --filter @turnstream/contracts job-schema`)', () => {
    expect(JSON.parse(read('../job-schema.json'))).toEqual(turnJobJsonSchema());
  });

  it.each(fixtures.valid)('still accepts what producers wrote: $name', ({ job }) => {
    const parsed = turnJobSchema.safeParse(job);
    expect(parsed.success, parsed.success ? '' : describeJobIssues(parsed.error)).toBe(true);
  });

  it('the job in docs/integration.md is valid on the intake queue', () => {
    const doc = read('../../../docs/integration.md');
    const example = /```json\n([\s\S]*?)\n```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    expect(parseIntakeJob(JSON.parse(example!))).toMatchObject({ ok: true });
  });

  it('refusals name the field', () => {
    expect(reasonFor({ ...base, tenantId: 42 })).toMatch(/^tenantId: /);
    expect(reasonFor({ ...base, content: 'x'.repeat(100_001) })).toMatch(/^content: /);
    expect(reasonFor({ ...base, content: 'a\u0000b' })).toMatch(/^content: .*NUL/);
    expect(reasonFor({ ...base, content: ' \n ' })).toMatch(/^content: .*whitespace/);
    expect(reasonFor({ ...base, mode: 'loud' })).toMatch(/^mode: /);
    expect(reasonFor({ ...base, v: 3 })).toMatch(/^v: /);
    expect(reasonFor({ ...base, v: '2' })).toMatch(/^v: /);
    expect(reasonFor({ ...base, externalConversationId: 'ext' })).toMatch(/^conversationId: exactly one/);
    const { conversationId: _, ...noConversation } = base;
    expect(reasonFor(noConversation)).toMatch(/^conversationId: exactly one/);
    expect(reasonFor({ ...noConversation, externalConversationId: 'ext', content: undefined })).toMatch(
      /content: required with externalConversationId/,
    );
    expect(reasonFor(null)).toMatch(/^\(root\)|^v: /);
  });

  it('the turns queue takes conversation ids only; the intake queue needs content', () => {
    const { conversationId: _, ...rest } = base;
    expect(parseTurnJob({ ...rest, externalConversationId: 'ext' })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^externalConversationId: /),
    });
    expect(parseTurnJob(base)).toMatchObject({ ok: true, job: { conversationId: base.conversationId } });
    expect(parseIntakeJob({ ...base, content: undefined })).toMatchObject({
      ok: false,
      reason: 'content: required on the intake queue',
    });
  });
});

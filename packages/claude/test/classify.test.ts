import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
} from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import {
  ClaudeStreamIdleError,
  ClaudeStreamIncompleteError,
  classifyClaudeError,
  TranscriptUnavailableError,
} from '../src/index.ts';

/** Errors built the way the SDK builds them from a response (status, body, headers). */
function apiError(
  status: number,
  error: { type: string; message: string; details?: { error_code: string } },
  headers: Record<string, string> = {},
): APIError {
  return APIError.generate(
    status,
    { type: 'error', error, request_id: 'req_test' },
    undefined,
    new Headers(headers),
  );
}

const invalid = (message: string, code?: string) =>
  apiError(400, {
    type: 'invalid_request_error',
    message,
    ...(code ? { details: { error_code: code } } : {}),
  });

describe('classifyClaudeError', () => {
  it('rate_limited takes retry-after-ms, then retry-after (seconds or date), else a default', () => {
    const limit = { type: 'rate_limit_error', message: 'slow down' };
    expect(
      classifyClaudeError(apiError(429, limit, { 'retry-after-ms': '1234', 'retry-after': '9' })),
    ).toEqual({
      kind: 'rate_limited',
      retryAfterMs: 1234,
    });
    expect(classifyClaudeError(apiError(429, limit, { 'retry-after': '7' }))).toEqual({
      kind: 'rate_limited',
      retryAfterMs: 7000,
    });
    const date = new Date(Date.now() + 30_000).toUTCString();
    const fromDate = classifyClaudeError(apiError(429, limit, { 'retry-after': date }));
    expect(fromDate.kind === 'rate_limited' && fromDate.retryAfterMs > 25_000).toBe(true);
    expect(classifyClaudeError(apiError(429, limit))).toEqual({
      kind: 'rate_limited',
      retryAfterMs: 10_000,
    });
  });

  it('rate_limited without retry-after waits for the anthropic-ratelimit-*-reset of the exhausted limits', () => {
    const limit = { type: 'rate_limit_error', message: 'slow down' };
    const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();
    const exhausted = classifyClaudeError(
      apiError(429, limit, {
        'anthropic-ratelimit-requests-remaining': '12',
        'anthropic-ratelimit-requests-reset': inMs(60_000),
        'anthropic-ratelimit-input-tokens-remaining': '0',
        'anthropic-ratelimit-input-tokens-reset': inMs(20_000),
      }),
    );
    expect(exhausted.kind).toBe('rate_limited');
    const wait = exhausted.kind === 'rate_limited' ? exhausted.retryAfterMs : 0;
    expect(wait).toBeGreaterThan(15_000);
    expect(wait).toBeLessThanOrEqual(20_000);
    // No `-remaining` says which ran out: the latest reset.
    const unknown = classifyClaudeError(
      apiError(429, limit, {
        'anthropic-ratelimit-tokens-reset': inMs(5_000),
        'anthropic-ratelimit-requests-reset': inMs(40_000),
      }),
    );
    expect(unknown.kind === 'rate_limited' && unknown.retryAfterMs > 35_000).toBe(true);
    // retry-after, when present, is what the server asks for.
    expect(
      classifyClaudeError(
        apiError(429, limit, { 'retry-after': '3', 'anthropic-ratelimit-requests-reset': inMs(40_000) }),
      ),
    ).toEqual({ kind: 'rate_limited', retryAfterMs: 3000 });
  });

  it('billing 429s are fatal', () => {
    for (const code of ['enforced_spend_limit_reached', 'contract_spend_limit_reached']) {
      const err = apiError(429, {
        type: 'rate_limit_error',
        message: 'limit',
        details: { error_code: code },
      });
      expect(classifyClaudeError(err)).toEqual({ kind: 'fatal', code: 'claude_billing', message: 'limit' });
    }
  });

  it.each([
    'compaction_block_ambiguous',
    'compaction_block_misplaced',
    'compaction_content_mismatch',
    'compaction_incomplete_turn',
    'compaction_signature_invalid',
    'compaction_tool_changes_mismatch',
    'thread_already_continued',
    'thread_fingerprint_mismatch',
    'tool_reference_unresolved',
  ])('400 %s is session_invalid', (code) => {
    expect(classifyClaudeError(invalid('stale transcript', code))).toEqual({
      kind: 'session_invalid',
      reason: code,
    });
  });

  it('404 thread_not_found is session_invalid, other 404s fatal', () => {
    const thread = apiError(404, {
      type: 'not_found_error',
      message: 'no thread',
      details: { error_code: 'thread_not_found' },
    });
    expect(classifyClaudeError(thread)).toEqual({ kind: 'session_invalid', reason: 'thread_not_found' });
    const model = apiError(404, { type: 'not_found_error', message: 'model: x' });
    expect(classifyClaudeError(model)).toEqual({
      kind: 'fatal',
      code: 'claude_not_found',
      message: 'model: x',
    });
  });

  it('transcript-caused 400s by message; other 400s fatal', () => {
    expect(
      classifyClaudeError(invalid('messages.5.content.0: Invalid `signature` in `thinking` block')),
    ).toEqual({
      kind: 'session_invalid',
      reason: 'thinking_signature_invalid',
    });
    expect(classifyClaudeError(invalid('prompt is too long: 210000 tokens > 200000 maximum'))).toEqual({
      kind: 'session_invalid',
      reason: 'prompt_too_long',
    });
    expect(
      classifyClaudeError(invalid('messages: text content blocks must contain non-whitespace text')),
    ).toEqual({
      kind: 'session_invalid',
      reason: 'empty_text_block',
    });
    expect(classifyClaudeError(invalid('temperature: Input should be less than or equal to 1'))).toEqual({
      kind: 'fatal',
      code: 'claude_invalid_request',
      message: 'temperature: Input should be less than or equal to 1',
    });
  });

  it('transient codes and retry headers on 4xx/5xx', () => {
    expect(classifyClaudeError(invalid('busy', 'thread_continue_in_flight'))).toMatchObject({
      kind: 'transient',
      reason: 'thread_continue_in_flight',
    });
    const compaction = apiError(529, {
      type: 'overloaded_error',
      message: 'later',
      details: { error_code: 'compaction_unavailable' },
    });
    expect(classifyClaudeError(compaction)).toMatchObject({ kind: 'transient' });
    const refused = apiError(500, { type: 'api_error', message: 'no' }, { 'x-should-retry': 'false' });
    expect(classifyClaudeError(refused)).toEqual({
      kind: 'fatal',
      code: 'claude_server_error',
      message: 'no',
    });
    const retryable400 = apiError(
      400,
      { type: 'invalid_request_error', message: 'x' },
      { 'x-should-retry': 'true' },
    );
    expect(classifyClaudeError(retryable400)).toMatchObject({ kind: 'transient', reason: 'http_400' });
    const slow529 = apiError(
      529,
      { type: 'overloaded_error', message: 'Overloaded' },
      { 'retry-after': '5' },
    );
    expect(classifyClaudeError(slow529)).toEqual({
      kind: 'transient',
      backoffMs: 5000,
      reason: 'overloaded',
    });
  });

  it('backoff doubles per attempt and is capped', () => {
    const err = apiError(503, { type: 'api_error', message: 'x' });
    expect(classifyClaudeError(err, { attempt: 0 })).toMatchObject({ backoffMs: 1000 });
    expect(classifyClaudeError(err, { attempt: 3 })).toMatchObject({ backoffMs: 8000 });
    expect(classifyClaudeError(err, { attempt: 30 })).toMatchObject({ backoffMs: 60_000 });
  });

  it('midstream error events (APIError without status) classify by their type', () => {
    const event = (type: string, message: string) =>
      new APIError(undefined, { type: 'error', error: { type, message } }, undefined, new Headers());
    expect(classifyClaudeError(event('overloaded_error', 'Overloaded'))).toMatchObject({
      kind: 'transient',
      reason: 'midstream_error',
    });
    expect(classifyClaudeError(event('api_error', 'boom'))).toMatchObject({ kind: 'transient' });
    expect(classifyClaudeError(event('rate_limit_error', 'slow'))).toEqual({
      kind: 'rate_limited',
      retryAfterMs: 10_000,
    });
    expect(
      classifyClaudeError(event('invalid_request_error', 'prompt is too long: 5 tokens > 4 maximum')),
    ).toEqual({
      kind: 'session_invalid',
      reason: 'prompt_too_long',
    });
  });

  it('connection, timeout, idle and incomplete streams are transient', () => {
    expect(classifyClaudeError(new APIConnectionError({ message: 'down' }))).toMatchObject({
      kind: 'transient',
      reason: 'connection',
    });
    expect(classifyClaudeError(new APIConnectionTimeoutError())).toMatchObject({
      kind: 'transient',
      reason: 'timeout',
    });
    expect(classifyClaudeError(new ClaudeStreamIdleError(300))).toMatchObject({
      kind: 'transient',
      reason: 'stream_idle',
    });
    expect(classifyClaudeError(new ClaudeStreamIncompleteError('content_block_delta'))).toMatchObject({
      kind: 'transient',
      reason: 'stream_incomplete',
    });
    const socket = Object.assign(new Error('other side closed'), {
      name: 'SocketError',
      code: 'UND_ERR_SOCKET',
    });
    expect(classifyClaudeError(new TypeError('terminated', { cause: socket }))).toMatchObject({
      kind: 'transient',
      reason: 'connection',
    });
  });

  it('cancelled: the caller aborted, whatever the error', () => {
    expect(classifyClaudeError(new APIUserAbortError())).toEqual({ kind: 'cancelled' });
    expect(classifyClaudeError(new DOMException('aborted', 'AbortError'))).toEqual({ kind: 'cancelled' });
    const signal = AbortSignal.abort();
    expect(classifyClaudeError(new ClaudeStreamIdleError(1), { signal })).toEqual({ kind: 'cancelled' });
  });

  it('a transcript that cannot be loaded is session_invalid; unknown errors are fatal', () => {
    const missing = new TranscriptUnavailableError('transcript row gone', {
      transcriptId: 't1',
      cause: new Error('404'),
    });
    expect(missing.name).toBe('TranscriptUnavailableError');
    expect(missing.cause).toBeInstanceOf(Error);
    expect(classifyClaudeError(missing)).toEqual({
      kind: 'session_invalid',
      reason: 'transcript_unavailable',
    });
    expect(classifyClaudeError(new RangeError('bug'))).toEqual({
      kind: 'fatal',
      code: 'claude_unknown',
      message: 'bug',
    });
    expect(classifyClaudeError('weird')).toEqual({ kind: 'fatal', code: 'claude_unknown', message: 'weird' });
  });
});

import type { ClaudeErrorClass } from '@turnstream/claude';
import { describe, expect, it } from 'vitest';
import { classifyJobFailure, STALL_LIMIT_REASON } from '../src/abandon.ts';
import { decideTurnAction, type PolicyInput, type TurnAction } from '../src/error-policy.ts';
import { TransientTurnError } from '../src/errors.ts';
import type { AbortReason } from '../src/turn-abort.ts';

const transient: ClaudeErrorClass = { kind: 'transient', backoffMs: 2000, reason: 'overloaded' };
const invalid: ClaudeErrorClass = { kind: 'session_invalid', reason: 'invalid_signature' };
const limited: ClaudeErrorClass = { kind: 'rate_limited', retryAfterMs: 3000 };
const fatal: ClaudeErrorClass = { kind: 'fatal', code: 'claude_auth', message: '401' };
const aborted: ClaudeErrorClass = { kind: 'cancelled' };

type Row = [
  string,
  ClaudeErrorClass,
  AbortReason | null,
  { number: number; allowed: number; recovered: boolean },
  { sessionRecovery: boolean },
  Partial<TurnAction> & { kind: TurnAction['kind'] },
];

const first = { number: 1, allowed: 6, recovered: false };
const last = { number: 6, allowed: 6, recovered: false };
const on = { sessionRecovery: true };
const off = { sessionRecovery: false };

// (class, abort reason, attempt, config) -> action. Backoff: half fixed, half jitter (0.5 here), scale 1.
const TABLE: Row[] = [
  [
    'transient, attempts left: retry with backoff',
    transient,
    null,
    first,
    on,
    { kind: 'retry', code: 'overloaded', backoffMs: 1500 },
  ],
  [
    'transient, last attempt: fail readably',
    transient,
    null,
    last,
    on,
    { kind: 'fail', code: 'transient_exhausted' },
  ],
  [
    'rate limited: wait (no attempt), even on the last',
    limited,
    null,
    last,
    on,
    { kind: 'rate_limit', retryAfterMs: 3000 },
  ],
  ['fatal: fail at once, first attempt', fatal, null, first, on, { kind: 'fail', code: 'claude_auth' }],
  [
    'session invalid, recovery on: recover',
    invalid,
    null,
    first,
    on,
    { kind: 'recover', reason: 'invalid_signature' },
  ],
  [
    'session invalid again after a recovery: fail',
    invalid,
    null,
    { ...first, recovered: true },
    on,
    { kind: 'fail', code: 'session_invalid', clearSession: 'invalid_signature' },
  ],
  [
    'session invalid, recovery off: fail, session cleared',
    invalid,
    null,
    first,
    off,
    { kind: 'fail', code: 'session_invalid', clearSession: 'invalid_signature' },
  ],
  ['cancel abort', aborted, 'cancelled', first, on, { kind: 'cancel' }],
  ['shutdown abort: hand back', aborted, 'shutdown', last, on, { kind: 'hand_back' }],
  ['lease lost: fenced out', aborted, 'lease_lost', first, on, { kind: 'fenced_out', reason: 'lease_lost' }],
  ['lock lost: fenced out', aborted, 'lock_lost', first, on, { kind: 'fenced_out', reason: 'lock_lost' }],
  [
    'fenced out: fenced out',
    transient,
    'fenced_out',
    first,
    on,
    { kind: 'fenced_out', reason: 'fenced_out' },
  ],
  [
    'an abort wins over the error class (transient while shutting down)',
    transient,
    'shutdown',
    first,
    on,
    { kind: 'hand_back' },
  ],
  [
    'an abort wins over the last attempt (cancel on a fatal error)',
    fatal,
    'cancelled',
    last,
    on,
    { kind: 'cancel' },
  ],
  ['aborted with no reason recorded: cancel', aborted, null, first, on, { kind: 'cancel' }],
];

describe('decideTurnAction', () => {
  it.each(TABLE)('%s', (_name, error, abort, attempt, config, expected) => {
    const input: PolicyInput = { error, abort, attempt, config: { ...config, backoffScale: 1 }, jitter: 0.5 };
    expect(decideTurnAction(input)).toMatchObject(expected);
  });

  it('fail actions carry a readable text, never provider internals', () => {
    const action = decideTurnAction({
      error: { kind: 'fatal', code: 'claude_billing', message: 'credit balance too low (req_123)' },
      abort: null,
      attempt: first,
      config: { sessionRecovery: true, backoffScale: 1 },
      jitter: 0,
    });
    expect(action).toMatchObject({ kind: 'fail', detail: 'credit balance too low (req_123)' });
    expect((action as { readable: string }).readable).not.toContain('req_123');
  });

  it('the backoff is scaled and stays within [half, full] of the suggestion', () => {
    const at = (jitter: number, backoffScale: number) =>
      decideTurnAction({
        error: transient,
        abort: null,
        attempt: first,
        config: { sessionRecovery: true, backoffScale },
        jitter,
      });
    expect(at(0, 1)).toMatchObject({ backoffMs: 1000 });
    expect(at(0.999, 1)).toMatchObject({ backoffMs: 1999 });
    expect(at(0.5, 0.1)).toMatchObject({ backoffMs: 150 });
  });
});

describe('classifyJobFailure (the failed handler)', () => {
  it.each([
    ['a used-up stall budget', new Error(STALL_LIMIT_REASON), { kind: 'turn', code: 'stall_exhausted' }],
    [
      'a transient error left over',
      new TransientTurnError('overloaded', 10, 'transient'),
      { kind: 'turn', code: 'transient_exhausted' },
    ],
    [
      'a transient error read back from its failed job (the reconciler)',
      new Error(new TransientTurnError('overloaded', 10, 'transient').message),
      { kind: 'turn', code: 'transient_exhausted' },
    ],
    ['an unexpected error', new Error('connection terminated'), { kind: 'turn', code: 'internal_error' }],
    ['an invalid job', new Error('invalid_job: messageId: Required'), { kind: 'not_a_turn' }],
    [
      'a job naming no stored message',
      new Error('message_not_found: the job names no stored user message'),
      { kind: 'not_a_turn' },
    ],
    ['an id of another tenant', new Error('id_conflict: message m cannot be stored'), { kind: 'not_a_turn' }],
  ])('%s', (_name, err, expected) => {
    expect(classifyJobFailure(err)).toMatchObject(expected);
  });
});

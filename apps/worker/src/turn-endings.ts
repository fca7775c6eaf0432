import type { ClaudeChunk } from '@turnstream/claude';
import type { TurnEvent } from '@turnstream/contracts';
import {
  cancelTurn,
  type EndTurnResult,
  failTurn,
  finishAttempt,
  type InterruptTurnInput,
  interruptTurn,
} from '@turnstream/db';
import { UnrecoverableError, WaitingError } from 'bullmq';
import type { TurnAction } from './error-policy.ts';
import { FencedOutError, TransientTurnError } from './errors.ts';
import { delayUntil } from './rate-gate.ts';
import type { TranscriptState } from './session-recovery.ts';
import { userTurn } from './transcript.ts';
import { completeWithRetry } from './turn-complete.ts';
import type { TurnResult, TurnRun } from './turn-context.ts';

/*
 * How an attempt of a turn ends. Each ending writes the reply row, the user row and the attempt in one
 * fenced transaction (`@turnstream/db`), then publishes what subscribers must know. An ending the
 * database refuses (a newer fence owns the reply, or the turn already ended elsewhere) becomes
 * `FencedOutError`: this worker writes nothing more.
 */

type Final = Extract<ClaudeChunk, { type: 'message_completed' }>;

function owner(run: TurnRun) {
  return { fence: run.lease.fence, replyId: run.replyId, attemptId: run.attemptId };
}

function ref(run: TurnRun) {
  return { tenantId: run.data.tenantId, conversationId: run.conversation.id, messageId: run.message.id };
}

function refused(res: EndTurnResult, what: string): void {
  if (!res.ok) throw new FencedOutError(`${what} refused: ${res.reason}`);
}

function at(ms: number): string {
  return new Date(Date.now() + ms).toISOString();
}

/** Completed: transcript, reply, session and user message in one transaction, then `turn.completed`. */
export async function completeEnding(
  run: TurnRun,
  state: TranscriptState,
  final: Final,
): Promise<TurnResult> {
  await run.publisher.flush();
  const done = await completeWithRetry(run, state.session, {
    attemptId: run.attemptId,
    plan: state.plan,
    transcriptMessages: [
      ...state.plan.messages,
      userTurn(run.message.content),
      { role: 'assistant' as const, content: final.content },
    ],
    replyId: run.replyId,
    content: final.text,
    stopReason: final.stopReason,
    usage: final.usage,
  });
  if (!done) throw new FencedOutError('completion refused: fenced out');
  // The webhook notice of this outcome takes the completion's answer instead of a statement of its own.
  const targets = run.deps.outcomeTargets;
  targets?.tell(run.message.id, 'turn.completed', done.outcomeWanted);
  try {
    await run.publisher.publish([
      {
        type: 'turn.completed',
        messageId: run.message.id,
        replyId: run.replyId,
        content: final.text,
        stopReason: final.stopReason,
      },
    ]);
  } finally {
    targets?.forget(run.message.id, 'turn.completed');
  }
  run.log.info(
    {
      event: 'turn.stream_completed',
      durationMs: Date.now() - run.startedAt,
      outputTokens: final.usage.outputTokens,
    },
    'turn completed',
  );
  return { outcome: 'completed', status: 'completed', replyId: run.replyId };
}

/** Failed for good: an error row the user can read, `turn.failed`, and no further attempt. */
export async function failEnding(
  run: TurnRun,
  action: Extract<TurnAction, { kind: 'fail' }>,
): Promise<never> {
  await run.publisher.reset(action.code);
  const res = await failTurn(run.deps.db, {
    ...ref(run),
    errorCode: action.code,
    content: action.readable,
    detail: action.detail,
    owner: owner(run),
  });
  refused(res, 'failure');
  await run.publisher.publish([
    { type: 'turn.failed', messageId: run.message.id, code: action.code, error: action.readable },
  ]);
  run.log.error({ event: 'turn.stream_failed', code: action.code, final: true }, 'turn failed');
  throw new UnrecoverableError(`${action.code}: ${action.detail}`);
}

/** Cancelled while running: the partial kept as the cancelled reply, `turn.cancelled`. */
export async function cancelEnding(run: TurnRun): Promise<TurnResult> {
  await run.publisher.flush();
  const res = await cancelTurn(run.deps.db, {
    ...ref(run),
    owner: { ...owner(run), content: run.publisher.content },
  });
  refused(res, 'cancel');
  await run.publisher.publish([{ type: 'turn.cancelled', messageId: run.message.id, replyId: run.replyId }]);
  run.log.info({ event: 'turn.cancel_completed', stage: 'streaming' }, 'turn cancelled');
  return { outcome: 'cancelled', status: 'cancelled', replyId: run.replyId };
}

/**
 * End the attempt, not the turn: the partial kept visible as interrupted, the client told to drop the
 * attempt's chunks, then told what happens next (`turn.retrying`, `turn.rate_limited`) when anything is.
 */
async function interrupt(
  run: TurnRun,
  attempt: Pick<InterruptTurnInput, 'outcome' | 'errorCode' | 'detail'>,
  next: TurnEvent | null,
  resetReason: string,
): Promise<void> {
  const partial = run.publisher.content;
  await run.publisher.reset(resetReason);
  const res = await interruptTurn(run.deps.db, {
    ...ref(run),
    owner: owner(run),
    content: partial,
    ...attempt,
  });
  refused(res, 'interrupt');
  if (next) await run.publisher.publish([next]);
}

/** A transient error with attempts left: `turn.retrying`, and the job retries after the backoff. */
export async function retryEnding(
  run: TurnRun,
  action: Extract<TurnAction, { kind: 'retry' }>,
  cause: unknown,
): Promise<never> {
  await interrupt(
    run,
    { outcome: 'retrying', errorCode: 'transient', detail: action.code },
    {
      type: 'turn.retrying',
      messageId: run.message.id,
      code: action.code,
      attempt: run.attemptNumber,
      retryAt: at(action.backoffMs),
    },
    action.code,
  );
  throw new TransientTurnError(action.code, action.backoffMs, 'transient', { cause });
}

/**
 * Claude's rate limit: the provider closed the fleet-wide rate gate; `turn.rate_limited` with the time,
 * and the job waits as a delayed job (not an attempt) until the gate opens.
 */
export async function rateLimitEnding(
  run: TurnRun,
  action: Extract<TurnAction, { kind: 'rate_limit' }>,
): Promise<never> {
  const retryAt = Date.now() + action.retryAfterMs;
  await interrupt(
    run,
    { outcome: 'rate_limited', errorCode: 'rate_limited', detail: `retry after ${action.retryAfterMs} ms` },
    { type: 'turn.rate_limited', messageId: run.message.id, retryAt: new Date(retryAt).toISOString() },
    'turn.rate_limited',
  );
  return delayUntil(run.job, run.token, retryAt);
}

/** Shutdown: the job goes back to waiting for another worker (no attempt used). */
export async function handBackEnding(run: TurnRun): Promise<never> {
  return handBack(run, 'shutdown', 'shutdown');
}

/**
 * A reset ended the session while the turn ran (its transcript was rejected and the session can no
 * longer be cleared): not the turn's failure, so no attempt is used. The job goes back to waiting; its
 * next run finds the message predating the new session and cancels it without calling Claude.
 */
export async function sessionEndedEnding(run: TurnRun): Promise<never> {
  return handBack(run, 'session_reset', 'session ended by a reset during the turn');
}

/** End the attempt as interrupted and hand the job back to the queue without using an attempt. */
async function handBack(run: TurnRun, code: string, detail: string): Promise<never> {
  await interrupt(run, { outcome: 'interrupted', errorCode: code, detail }, null, code);
  await run.job.moveToWait(run.token);
  run.log.info({ event: 'turn.handback_completed', reason: code }, 'turn interrupted and handed back');
  throw new WaitingError();
}

/** This worker lost the turn to a newer fence: record it and write nothing more. */
export async function supersededEnding(run: TurnRun, err: FencedOutError): Promise<TurnResult> {
  await finishAttempt(run.deps.db, run.attemptId, {
    outcome: 'superseded',
    errorCode: 'fenced_out',
    errorMessage: err.message,
  }).catch(() => undefined);
  run.log.warn({ event: 'turn.fence_rejected', reason: err.message }, 'turn fenced out; wrote nothing more');
  await run.publisher.close({ discard: true });
  // The owner of the newer fence finishes this message; this job ends without writing.
  return { outcome: 'superseded', status: 'superseded', replyId: run.replyId };
}

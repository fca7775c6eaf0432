import { type ClaudeChunk, classifyClaudeError } from '@turnstream/claude';
import type { TurnEvent } from '@turnstream/contracts';
import {
  getMessage,
  isFinalStatus,
  type OpenTurnResult,
  type StartReplyResult,
  startAttempt,
  startReply,
  type TurnAttempt,
} from '@turnstream/db';
import { endedTurn } from './ended-turn.ts';
import { decideTurnAction } from './error-policy.ts';
import { FencedOutError, SessionEndedError } from './errors.ts';
import { ReplyPublisher } from './reply-publisher.ts';
import { clearSession, planTranscript, recoverSession, type TranscriptState } from './session-recovery.ts';
import type { TurnAbort } from './turn-abort.ts';
import type { LeasedTurn, TurnResult, TurnRun } from './turn-context.ts';
import {
  cancelEnding,
  completeEnding,
  failEnding,
  handBackEnding,
  rateLimitEnding,
  retryEnding,
  sessionEndedEnding,
  supersededEnding,
} from './turn-endings.ts';
import { claudeRequest, type EarlyRequest, earlyStillValid } from './turn-start.ts';

export type { TurnResult } from './turn-context.ts';

type StreamOutcome =
  | { ok: true; final: Extract<ClaudeChunk, { type: 'message_completed' }> }
  | { ok: false; error: unknown };

/** What the lease holder started before the run: the turn's abort and its Claude request, if any. */
export interface TurnStart {
  abort: TurnAbort;
  early: Promise<EarlyRequest | null>;
  /** Stop the early request (it is not used); the run's own abort stays as it is. */
  discardEarly(): void;
  /** The reply and attempt rows, when the fence claim wrote them too (a first attempt). */
  opened: OpenTurnResult['opened'];
}

/**
 * Run a turn while holding the conversation lease (fence) and the claimed session: take the reply row,
 * open the attempt and publish `turn.started` (in parallel), then stream from Claude — the request
 * started early when its transcript was in hand — and end the attempt as the error policy says. No
 * chunk is published before the reply row and the attempt are confirmed, nor before `turn.started`
 * (fenced): the chunks the early request already holds go in `turn.started`'s own batch, after it.
 */
export async function runLeasedTurn(t: LeasedTurn, start: TurnStart): Promise<TurnResult> {
  const mode = t.data.mode ?? t.conversation.defaultMode;
  const started: StartReplyResult = start.opened
    ? { kind: 'started', reply: start.opened.reply, takenOver: false }
    : await startReply(t.deps.db, {
        tenantId: t.data.tenantId,
        conversationId: t.conversation.id,
        userMessageId: t.message.id,
        fence: t.lease.fence,
        mode,
      });
  if (started.kind === 'finished') {
    // Ended since the job read its message (endings are atomic: the user row is final too).
    const user = await getMessage(t.deps.db, t.data.tenantId, t.message.id);
    if (user && isFinalStatus(user.status)) return endedTurn(t.deps, user, t.log);
    return { outcome: 'already_finished', status: started.reply.status, replyId: started.reply.id };
  }
  if (started.kind === 'stale_fence') {
    t.log.warn({ event: 'turn.fence_rejected' }, 'reply owned by a newer fence');
    return { outcome: 'superseded', status: 'superseded', replyId: started.reply.id };
  }
  let run: TurnRun | undefined;
  try {
    const early = await usableEarly(start, t.session);
    const opened = await openRun(
      t,
      started.reply.id,
      started.takenOver,
      mode,
      start.abort,
      start.opened?.attempt,
      early,
    );
    run = opened.run;
    if (opened.fencedOut) throw opened.fencedOut;
    t.log.info(
      { event: 'turn.stream_started', mode, assistantSessionId: t.session.assistantSessionId },
      'turn started',
    );
    if (early) return await streamUntilEnded(run, { ...early.state, session: run.session }, early.stream);
    // The session changed since it was read (or the plan needs a write): plan again, and send that.
    return await streamUntilEnded(run, await planTranscript(run));
  } catch (err) {
    if (run && err instanceof FencedOutError) return await supersededEnding(run, err);
    if (run && err instanceof SessionEndedError) return await sessionEndedEnding(run);
    throw err;
  } finally {
    // An early request this run did not consume (an error before streaming) is stopped.
    start.discardEarly();
    await run?.publisher.close();
  }
}

/**
 * The early request, when it may stand for the confirmed session (the same session, unchanged since it
 * was read); otherwise it is stopped and null.
 */
async function usableEarly(start: TurnStart, confirmed: LeasedTurn['session']): Promise<EarlyRequest | null> {
  const early = await start.early;
  if (early && earlyStillValid(early, confirmed)) return early;
  start.discardEarly();
  return null;
}

const isDelta = (
  chunk: ClaudeChunk,
): chunk is Extract<ClaudeChunk, { type: 'text_delta' | 'thinking_delta' }> =>
  chunk.type === 'text_delta' || chunk.type === 'thinking_delta';

/** Call Claude until the attempt ends: completed, or as the error policy decides. */
async function streamUntilEnded(
  run: TurnRun,
  initial: TranscriptState,
  early?: AsyncIterable<ClaudeChunk>,
): Promise<TurnResult> {
  let state = initial;
  let source = early;
  for (;;) {
    const outcome = await streamOnce(run, state, source);
    source = undefined;
    if (outcome.ok) return completeEnding(run, state, outcome.final);
    const error = classifyClaudeError(outcome.error, {
      signal: run.abort.signal,
      attempt: run.attemptNumber - 1,
    });
    const action = decideTurnAction({
      error,
      abort: run.abort.reason,
      attempt: {
        number: run.attemptNumber,
        allowed: run.job.opts.attempts ?? 1,
        recovered: state.recovered,
      },
      config: run.deps.config,
      jitter: Math.random(),
    });
    run.log.warn(
      { event: 'turn.stream_failed', kind: error.kind, action: action.kind },
      'Claude call failed',
    );
    switch (action.kind) {
      case 'fenced_out':
        throw new FencedOutError(`turn lost ownership (${action.reason})`, { cause: outcome.error });
      case 'recover':
        await run.publisher.reset('session_invalid');
        state = await recoverSession(run, state, action.reason);
        continue;
      case 'fail':
        if (action.clearSession) {
          await run.publisher.reset(action.code);
          state = { ...state, session: await clearSession(run, state.session, action.clearSession) };
        }
        return failEnding(run, action);
      case 'retry':
        return retryEnding(run, action, outcome.error);
      case 'rate_limit':
        return rateLimitEnding(run, action);
      case 'hand_back':
        return handBackEnding(run);
      case 'cancel':
        return cancelEnding(run);
      default: {
        const never: never = action;
        throw new Error(`unhandled action ${JSON.stringify(never)}`);
      }
    }
  }
}

/**
 * Open the attempt: its row in Postgres (unless the fence claim wrote it: `attemptRow`) and
 * `turn.started` (after `turn.reset` for a reply taken over) published with the fence, at once. (The
 * cancel flag was read again with the lease, once the turn was registered for cancels.) A fence refused
 * by the log comes back as `fencedOut` with the run, so that the attempt is recorded as superseded.
 * When the attempt row is already confirmed, the deltas the early request holds by now go out in the
 * same batch as `turn.started` (one publish less before the first chunk).
 */
async function openRun(
  t: LeasedTurn,
  replyId: string,
  takenOver: boolean,
  mode: 'stream' | 'batch',
  abort: TurnAbort,
  attemptRow?: TurnAttempt,
  early?: EarlyRequest | null,
): Promise<{ run: TurnRun; fencedOut: FencedOutError | null }> {
  const attemptNumber = t.job.attemptsMade + 1;
  const publisher = new ReplyPublisher({
    streams: t.deps.streams,
    liveReplies: t.deps.liveReplies,
    conversationId: t.conversation.id,
    messageId: t.message.id,
    replyId,
    fence: t.lease.fence,
    mode,
    coalesceWindowMs: t.deps.publishWindowMs,
    onFencedOut: () => abort.abort('fenced_out'),
  });
  const opening: TurnEvent[] = [
    // Chunks of an earlier attempt (or of a stalled worker) may have reached clients: void them.
    ...(takenOver
      ? [{ type: 'turn.reset' as const, messageId: t.message.id, reason: 'attempt_restarted' }]
      : []),
    { type: 'turn.started', messageId: t.message.id, replyId, attempt: attemptNumber },
  ];
  const [attempt, published] = await Promise.allSettled([
    attemptRow ??
      startAttempt(t.deps.db, {
        tenantId: t.data.tenantId,
        conversationId: t.conversation.id,
        messageId: t.message.id,
        jobId: t.job.id ?? null,
        attempt: attemptNumber,
        workerId: t.deps.workerId,
        fence: t.lease.fence,
        sessionId: t.session.id,
        assistantSessionId: t.session.assistantSessionId,
      }),
    publisher.open(
      opening,
      attemptRow && early && !abort.signal.aborted ? early.stream.takeHeld(isDelta) : [],
    ),
  ]);
  if (attempt.status === 'rejected') {
    await publisher.close({ discard: true });
    throw attempt.reason;
  }
  const run: TurnRun = {
    ...t,
    replyId,
    attemptId: attempt.value.id,
    attemptNumber,
    publisher,
    abort,
    startedAt: Date.now(),
  };
  if (published.status === 'rejected') {
    if (published.reason instanceof FencedOutError) return { run, fencedOut: published.reason };
    await publisher.close({ discard: true });
    throw published.reason;
  }
  return { run, fencedOut: null };
}

async function streamOnce(
  run: TurnRun,
  state: TranscriptState,
  early?: AsyncIterable<ClaudeChunk>,
): Promise<StreamOutcome> {
  let final: Extract<ClaudeChunk, { type: 'message_completed' }> | undefined;
  try {
    const chunks = early ?? run.deps.provider.stream(claudeRequest(run, state, run.abort.signal));
    for await (const chunk of chunks) {
      if (chunk.type === 'text_delta') run.publisher.textDelta(chunk.text);
      else if (chunk.type === 'thinking_delta') run.publisher.thinkingDelta(chunk.text);
      else final = chunk;
    }
    if (!final) return { ok: false, error: new Error('stream ended without a final message') };
    return { ok: true, final };
  } catch (error) {
    return { ok: false, error };
  }
}

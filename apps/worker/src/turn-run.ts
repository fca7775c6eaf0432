import { type ClaudeChunk, classifyClaudeError } from '@turnstream/claude';
import { cancelFlagKey, outputBudget } from '@turnstream/contracts';
import { startAttempt, startReply } from '@turnstream/db';
import { decideTurnAction } from './error-policy.ts';
import { FencedOutError } from './errors.ts';
import { ReplyPublisher } from './reply-publisher.ts';
import { clearSession, planTranscript, recoverSession, type TranscriptState } from './session-recovery.ts';
import { userTurn } from './transcript.ts';
import { TurnAbort } from './turn-abort.ts';
import type { LeasedTurn, TurnResult, TurnRun } from './turn-context.ts';
import {
  cancelEnding,
  completeEnding,
  failEnding,
  handBackEnding,
  rateLimitEnding,
  retryEnding,
  supersededEnding,
} from './turn-endings.ts';

export type { TurnResult } from './turn-context.ts';

type StreamOutcome =
  | { ok: true; final: Extract<ClaudeChunk, { type: 'message_completed' }> }
  | { ok: false; error: unknown };

/**
 * Run a turn while holding the conversation lease (fence): take the reply row, open the attempt, plan
 * the transcript, stream from Claude, and end the attempt as the error policy says.
 */
export async function runLeasedTurn(t: LeasedTurn): Promise<TurnResult> {
  const started = await startReply(t.deps.db, {
    tenantId: t.data.tenantId,
    conversationId: t.conversation.id,
    userMessageId: t.message.id,
    fence: t.lease.fence,
    mode: t.data.mode ?? t.conversation.defaultMode,
  });
  if (started.kind === 'finished')
    return { outcome: 'already_finished', status: started.reply.status, replyId: started.reply.id };
  if (started.kind === 'stale_fence') {
    t.log.warn({ event: 'turn.fence_rejected' }, 'reply owned by a newer fence');
    return { outcome: 'superseded', status: 'superseded', replyId: started.reply.id };
  }
  const mode = t.data.mode ?? t.conversation.defaultMode;
  const run = await openRun(t, started.reply.id, mode);
  // Registered only now, right before the try whose finally removes it.
  t.deps.running.add(t.message.id, run.abort);
  try {
    // A cancel that came after processTurnJob checked the flag but before this turn was in
    // `deps.running` was published to no one: now that the cancel channel reaches the turn, look again.
    if (await t.deps.redis.exists(cancelFlagKey(t.deps.config.redisPrefix, t.conversation.id, t.message.id)))
      run.abort.abort('cancelled');
    if (started.takenOver) {
      // Chunks of an earlier attempt (or of a stalled worker) may have reached clients: void them.
      await run.publisher.publish([
        { type: 'turn.reset', messageId: t.message.id, reason: 'attempt_restarted' },
      ]);
    }
    await run.publisher.publish([
      { type: 'turn.started', messageId: t.message.id, replyId: run.replyId, attempt: run.attemptNumber },
    ]);
    t.log.info(
      { event: 'turn.stream_started', mode, assistantSessionId: t.session.assistantSessionId },
      'turn started',
    );
    return await streamUntilEnded(run, await planTranscript(run));
  } catch (err) {
    if (err instanceof FencedOutError) return await supersededEnding(run, err);
    throw err;
  } finally {
    t.deps.running.delete(t.message.id);
    await run.publisher.close();
  }
}

/** Call Claude until the attempt ends: completed, or as the error policy decides. */
async function streamUntilEnded(run: TurnRun, initial: TranscriptState): Promise<TurnResult> {
  let state = initial;
  for (;;) {
    const outcome = await streamOnce(run, state);
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

/** Open the attempt: its row in Postgres, its abort (lease, lock, cancel, shutdown) and its publisher. */
async function openRun(t: LeasedTurn, replyId: string, mode: 'stream' | 'batch'): Promise<TurnRun> {
  const abort = new TurnAbort();
  abort.follow(t.lease.signal, 'lease_lost');
  abort.follow(t.lockSignal, 'lock_lost');
  const attemptNumber = t.job.attemptsMade + 1;
  const attempt = await startAttempt(t.deps.db, {
    tenantId: t.data.tenantId,
    conversationId: t.conversation.id,
    messageId: t.message.id,
    jobId: t.job.id ?? null,
    attempt: attemptNumber,
    workerId: t.deps.workerId,
    fence: t.lease.fence,
    sessionId: t.session.id,
    assistantSessionId: t.session.assistantSessionId,
  });
  const publisher = new ReplyPublisher({
    streams: t.deps.streams,
    liveReplies: t.deps.liveReplies,
    conversationId: t.conversation.id,
    messageId: t.message.id,
    replyId,
    fence: t.lease.fence,
    mode,
    coalesceWindowMs: t.deps.config.coalesceWindowMs,
    onFencedOut: () => abort.abort('fenced_out'),
  });
  return { ...t, replyId, attemptId: attempt.id, attemptNumber, publisher, abort, startedAt: Date.now() };
}

async function streamOnce(run: TurnRun, state: TranscriptState): Promise<StreamOutcome> {
  const { conversation, message, deps } = run;
  const model = deps.config.models.find((m) => m.id === conversation.model);
  const budget = outputBudget(model, deps.config.maxTokens, conversation.thinkingBudgetTokens);
  let final: Extract<ClaudeChunk, { type: 'message_completed' }> | undefined;
  try {
    for await (const chunk of deps.provider.stream({
      model: conversation.model,
      system: conversation.system ?? undefined,
      messages: [...state.plan.messages, userTurn(message.content)],
      maxTokens: budget.maxTokens,
      thinking: budget.thinkingBudget ? { budgetTokens: budget.thinkingBudget } : undefined,
      signal: run.abort.signal,
    })) {
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

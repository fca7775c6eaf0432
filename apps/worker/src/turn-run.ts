import { type ClaudeChunk, type ClaudeErrorClass, classifyClaudeError } from '@turnstream/claude';
import { cancelFlagKey, outputBudget, type TurnEvent } from '@turnstream/contracts';
import {
  endReply,
  finishAttempt,
  setAssistantSession,
  setUserMessageStatus,
  startAttempt,
  startReply,
  type TurnOutcome,
} from '@turnstream/db';
import { UnrecoverableError, WaitingError } from 'bullmq';
import { FencedOutError, TransientTurnError } from './errors.ts';
import { observe } from './metrics.ts';
import { delayUntil } from './rate-gate.ts';
import { readableFatal, readableSessionError } from './readable-errors.ts';
import { ReplyPublisher } from './reply-publisher.ts';
import {
  emptyTranscript,
  loadTranscript,
  rebuildTranscript,
  type TranscriptPlan,
  userTurn,
} from './transcript.ts';
import { completeWithRetry } from './turn-complete.ts';
import type { AbortReason, LeasedTurn } from './turn-context.ts';

export interface TurnResult {
  outcome: 'completed' | 'already_finished' | 'cancelled' | 'superseded';
  status: string;
  replyId: string | null;
}

type StreamOutcome =
  | { ok: true; final: Extract<ClaudeChunk, { type: 'message_completed' }> }
  | { ok: false; error: unknown };

/** Run a turn while holding the conversation lease (fence). */
export async function runLeasedTurn(t: LeasedTurn): Promise<TurnResult> {
  const { deps, data, conversation, message, lease, log } = t;
  const fence = lease.fence;
  const mode = data.mode ?? conversation.defaultMode;
  const started = await startReply(deps.db, {
    tenantId: data.tenantId,
    conversationId: conversation.id,
    userMessageId: message.id,
    fence,
    mode,
  });
  if (started.kind === 'finished')
    return { outcome: 'already_finished', status: started.reply.status, replyId: started.reply.id };
  if (started.kind === 'stale_fence') {
    log.warn({ event: 'turn.fence_rejected' }, 'reply owned by a newer fence');
    return { outcome: 'superseded', status: 'superseded', replyId: started.reply.id };
  }
  const reply = started.reply;
  let session = t.session;

  const controller = new AbortController();
  const abort = (reason: AbortReason) => !controller.signal.aborted && controller.abort(reason);
  lease.signal.addEventListener('abort', () => abort('lease_lost'), { once: true });
  t.lockSignal?.addEventListener('abort', () => abort('lock_lost'), { once: true });

  const publisher = new ReplyPublisher({
    streams: deps.streams,
    liveReplies: deps.liveReplies,
    conversationId: conversation.id,
    messageId: message.id,
    replyId: reply.id,
    fence,
    mode,
    coalesceWindowMs: deps.config.coalesceWindowMs,
    onFencedOut: () => abort('fenced_out'),
  });
  const attempt = await startAttempt(deps.db, {
    tenantId: data.tenantId,
    conversationId: conversation.id,
    messageId: message.id,
    jobId: t.job.id ?? null,
    attempt: t.job.attemptsMade + 1,
    workerId: deps.workerId,
    fence,
    sessionId: session.id,
    assistantSessionId: session.assistantSessionId,
  });
  const finish = (outcome: TurnOutcome, errorCode?: string, errorMessage?: string, usage?: unknown) =>
    finishAttempt(deps.db, attempt.id, { outcome, errorCode, errorMessage, usage }).catch(() => undefined);
  const startedAt = Date.now();
  deps.metrics.turnsStarted++;

  /** Clear the session (NULL + tombstone, one transaction) and tell subscribers. */
  const clearSession = async (reason: string): Promise<void> => {
    const res = await setAssistantSession(deps.db, {
      sessionId: session.id,
      expectedVersion: session.version,
      fence,
      assistantSessionId: null,
      reason,
    });
    if (!res.ok) {
      if (res.conflict === 'fence') throw new FencedOutError('session claimed by a newer fence');
      throw new TransientTurnError(
        `session changed underneath the turn (${res.conflict})`,
        500,
        'session_conflict',
      );
    }
    session = res.session;
    deps.metrics.sessionsCleared++;
    log.warn(
      { event: 'session.clear_completed', reason, version: session.version },
      'assistant session cleared',
    );
    await publisher.publish([{ type: 'session.cleared', messageId: message.id, reason }]);
  };
  const rebuild = () =>
    rebuildTranscript(deps.db, {
      conversationId: conversation.id,
      beforeSeq: message.seq,
      afterSeq: session.startSeq,
      budgetTokens: deps.config.rebuildTokenBudget,
      system: conversation.system,
      userText: message.content,
    });

  // Registered only now, right before the try whose finally removes it.
  deps.running.add(message.id, controller);
  try {
    // A cancel that came after processTurnJob checked the flag but before this turn was in
    // `deps.running` was published to no one: now that the cancel channel reaches the turn, look again.
    if (await deps.redis.exists(cancelFlagKey(deps.config.redisPrefix, conversation.id, message.id)))
      abort('cancelled');
    if (started.takenOver) {
      // Chunks of an earlier attempt (or of a stalled worker) may have reached clients: void them.
      await publisher.publish([{ type: 'turn.reset', messageId: message.id, reason: 'attempt_restarted' }]);
    }
    await publisher.publish([
      { type: 'turn.started', messageId: message.id, replyId: reply.id, attempt: t.job.attemptsMade + 1 },
    ]);
    log.info(
      { event: 'turn.stream_started', mode, assistantSessionId: session.assistantSessionId },
      'turn started',
    );

    let plan: TranscriptPlan;
    let recovered = false;
    const loaded = await loadTranscript(deps.db, session);
    if (loaded.kind === 'live') plan = loaded.plan;
    else if (loaded.kind === 'unavailable') {
      // A transcript that cannot be loaded is an invalid session: recover without a Claude call.
      await clearSession(loaded.reason);
      plan = await rebuild();
      recovered = true;
      deps.metrics.sessionsRecovered++;
    } else {
      plan = message.seq > 1 ? await rebuild() : emptyTranscript();
    }

    for (;;) {
      const outcome = await streamOnce(t, publisher, plan, controller.signal, startedAt);
      if (outcome.ok) {
        await publisher.flush();
        const final = outcome.final;
        const transcriptMessages = [
          ...plan.messages,
          userTurn(message.content),
          { role: 'assistant' as const, content: final.content },
        ];
        const done = await completeWithRetry(t, session, {
          attemptId: attempt.id,
          plan,
          transcriptMessages,
          replyId: reply.id,
          content: final.text,
          stopReason: final.stopReason,
          usage: final.usage,
        });
        if (!done) throw new FencedOutError('completion refused: fenced out');
        await publisher.publish([
          {
            type: 'turn.completed',
            messageId: message.id,
            replyId: reply.id,
            content: final.text,
            stopReason: final.stopReason,
          },
        ]);
        deps.metrics.turnsCompleted++;
        observe(deps.metrics.durationsMs, Date.now() - startedAt);
        log.info(
          {
            event: 'turn.stream_completed',
            durationMs: Date.now() - startedAt,
            outputTokens: final.usage.outputTokens,
          },
          'turn completed',
        );
        return { outcome: 'completed', status: 'completed', replyId: reply.id };
      }

      const reason = controller.signal.reason as AbortReason | undefined;
      if (reason === 'lease_lost' || reason === 'fenced_out' || reason === 'lock_lost') {
        throw new FencedOutError(`turn lost ownership (${reason})`, { cause: outcome.error });
      }
      const cls = classifyClaudeError(outcome.error, {
        signal: controller.signal,
        attempt: t.job.attemptsMade,
      });
      log.warn({ event: 'turn.stream_failed', kind: cls.kind, detail: describe(cls) }, 'Claude call failed');

      switch (cls.kind) {
        case 'session_invalid': {
          await publisher.reset('session_invalid');
          await clearSession(cls.reason);
          if (deps.config.sessionRecovery && !recovered) {
            recovered = true;
            deps.metrics.sessionsRecovered++;
            plan = await rebuild();
            log.info(
              { event: 'session.rebuild_completed', messages: plan.messages.length },
              'transcript rebuilt from history',
            );
            continue;
          }
          return await failTurn(
            'session_invalid',
            readableSessionError(deps.config.sessionRecovery),
            cls.reason,
          );
        }
        case 'rate_limited': {
          // The provider closed the fleet-wide rate gate; the job waits (not an attempt) until it opens.
          const retryAt = Date.now() + cls.retryAfterMs;
          await interrupt({
            type: 'turn.rate_limited',
            messageId: message.id,
            retryAt: new Date(retryAt).toISOString(),
          });
          await finish('rate_limited', 'rate_limited', `retry after ${cls.retryAfterMs} ms`);
          return await delayUntil(t.job, t.token, retryAt);
        }
        case 'transient': {
          const attemptsAllowed = t.job.opts.attempts ?? 1;
          if (t.job.attemptsMade + 1 >= attemptsAllowed) {
            return await failTurn(
              'transient_exhausted',
              'The assistant is unavailable right now. Please try again.',
              cls.reason,
            );
          }
          const backoffMs = jittered(cls.backoffMs, deps.config.backoffScale);
          await interrupt({
            type: 'turn.retrying',
            messageId: message.id,
            code: cls.reason,
            attempt: t.job.attemptsMade + 1,
            retryAt: at(backoffMs),
          });
          await finish('retrying', 'transient', cls.reason);
          deps.metrics.turnsRetried++;
          throw new TransientTurnError(cls.reason, backoffMs, 'transient', { cause: outcome.error });
        }
        case 'fatal':
          return await failTurn(cls.code, readableFatal(cls.code), cls.message);
        case 'cancelled': {
          if (reason === 'shutdown') {
            await interrupt(null, 'shutdown');
            await finish('interrupted', 'shutdown');
            await t.job.moveToWait(t.token);
            log.info({ event: 'turn.handback_completed' }, 'turn interrupted by shutdown and handed back');
            throw new WaitingError();
          }
          await publisher.flush();
          await endReply(deps.db, {
            replyId: reply.id,
            fence,
            status: 'cancelled',
            content: publisher.content,
          });
          await finish('cancelled');
          await setUserMessageStatus(deps.db, message.id, 'cancelled');
          await publisher.publish([{ type: 'turn.cancelled', messageId: message.id, replyId: reply.id }]);
          deps.metrics.turnsCancelled++;
          log.info({ event: 'turn.cancel_completed', stage: 'streaming' }, 'turn cancelled');
          return { outcome: 'cancelled', status: 'cancelled', replyId: reply.id };
        }
        default: {
          const never: never = cls;
          throw new Error(`unhandled class ${JSON.stringify(never)}`);
        }
      }
    }
  } catch (err) {
    if (err instanceof FencedOutError) {
      deps.metrics.fencedOut++;
      await finish('superseded', 'fenced_out', err.message);
      log.warn({ event: 'turn.fence_rejected', reason: err.message }, 'turn fenced out; wrote nothing more');
      await publisher.close({ discard: true });
      // The owner of the newer fence finishes this message; this job ends without writing.
      return { outcome: 'superseded', status: 'superseded', replyId: reply.id };
    }
    throw err;
  } finally {
    deps.running.delete(message.id);
    await publisher.close();
  }

  /**
   * Keep the partial visible as interrupted, tell the client the attempt's chunks are void, then
   * announce what happens next (`turn.retrying`, `turn.rate_limited`), when anything is announced.
   */
  async function interrupt(next: TurnEvent | null, reasonText = next?.type ?? 'interrupted'): Promise<void> {
    const partial = publisher.content;
    await publisher.reset(next && 'code' in next ? next.code : reasonText);
    await endReply(deps.db, { replyId: reply.id, fence, status: 'interrupted', content: partial });
    if (next) await publisher.publish([next]);
  }

  /** Fail now with an error message the user can read. */
  async function failTurn(code: string, readable: string, detail: string): Promise<never> {
    await publisher.reset(code);
    await endReply(deps.db, {
      replyId: reply.id,
      fence,
      status: 'failed',
      role: 'error',
      content: readable,
      errorCode: code,
    });
    await finish('failed', code, detail);
    await setUserMessageStatus(deps.db, message.id, 'failed');
    await publisher.publish([{ type: 'turn.failed', messageId: message.id, code, error: readable }]);
    deps.metrics.turnsFailed++;
    log.error({ event: 'turn.stream_failed', code, final: true }, 'turn failed');
    throw new UnrecoverableError(`${code}: ${detail}`);
  }
}

async function streamOnce(
  t: LeasedTurn,
  publisher: ReplyPublisher,
  plan: TranscriptPlan,
  signal: AbortSignal,
  startedAt: number,
): Promise<StreamOutcome> {
  const { conversation, message, deps } = t;
  const model = deps.config.models.find((m) => m.id === conversation.model);
  const budget = outputBudget(model, deps.config.maxTokens, conversation.thinkingBudgetTokens);
  let final: Extract<ClaudeChunk, { type: 'message_completed' }> | undefined;
  let first = true;
  try {
    for await (const chunk of deps.provider.stream({
      model: conversation.model,
      system: conversation.system ?? undefined,
      messages: [...plan.messages, userTurn(message.content)],
      maxTokens: budget.maxTokens,
      thinking: budget.thinkingBudget ? { budgetTokens: budget.thinkingBudget } : undefined,
      signal,
    })) {
      if (chunk.type === 'text_delta') {
        if (first) {
          first = false;
          observe(deps.metrics.firstChunkMs, Date.now() - startedAt);
        }
        publisher.textDelta(chunk.text);
      } else if (chunk.type === 'thinking_delta') publisher.thinkingDelta(chunk.text);
      else final = chunk;
    }
    if (!final) return { ok: false, error: new Error('stream ended without a final message') };
    return { ok: true, final };
  } catch (error) {
    return { ok: false, error };
  }
}

/** ISO time `ms` from now (when a retry or a rate-limit wait ends). */
function at(ms: number): string {
  return new Date(Date.now() + ms).toISOString();
}

/** Half fixed, half random, scaled: a fleet retrying together does not retry in lockstep. */
function jittered(ms: number, scale: number): number {
  return Math.round((ms / 2 + Math.random() * (ms / 2)) * scale);
}

function describe(cls: ClaudeErrorClass): string {
  switch (cls.kind) {
    case 'session_invalid':
      return cls.reason;
    case 'rate_limited':
      return `retry after ${cls.retryAfterMs} ms`;
    case 'transient':
      return cls.reason;
    case 'fatal':
      return cls.code;
    case 'cancelled':
      return 'cancelled';
  }
}

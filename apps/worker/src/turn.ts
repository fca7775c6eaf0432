import { type ConversationTurnJob, cancelFlagKey, parseTurnJob, promoteTurnJob } from '@turnstream/contracts';
import {
  ensureActiveSession,
  firstUnfinishedBefore,
  getConversation,
  getMessage,
  insertUserMessage,
  isFinalStatus,
  type Message,
  nextPendingAfter,
  openTurn,
  readTurnStart,
  type TurnReads,
} from '@turnstream/db';
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import { checkedCallbackUrl } from './admit.ts';
import { cancelUnstartedTurn } from './cancel-unstarted.ts';
import { endedTurn } from './ended-turn.ts';
import { storedMessageId } from './job-message-id.ts';
import { UNKNOWN_MARK } from './lease.ts';
import { delayUntil } from './rate-gate.ts';
import { cancelPreResetTurn, predatesSession } from './reset-boundary.ts';
import { withTenantSlot } from './tenant-gate.ts';
import { TurnAbort } from './turn-abort.ts';
import type { LeasedTurn, TurnDeps, TurnResult } from './turn-context.ts';
import { runLeasedTurn } from './turn-run.ts';
import { startEarly } from './turn-start.ts';

/**
 * The BullMQ processor of a turn job: validate, make sure the user message exists, return a finished
 * reply as is, honour a cancel, keep per-conversation order, take the lease, then run the turn.
 */
export async function processTurnJob(
  job: Job,
  token: string | undefined,
  deps: TurnDeps,
  lockSignal?: AbortSignal,
): Promise<TurnResult> {
  const parsed = parseTurnJob(job.data);
  if (!parsed.ok) {
    deps.logger.warn(
      { event: 'turn.job_rejected', jobId: job.id, reason: parsed.reason },
      'invalid turn job',
    );
    throw new UnrecoverableError(`invalid_job: ${parsed.reason}`);
  }
  const data = parsed.job;
  const log = deps.logger.child({
    conversationId: data.conversationId,
    messageId: data.messageId,
    jobId: job.id,
    attempt: job.attemptsMade + 1,
  });

  // The reads before the lease do not depend on one another: they go out together, the Postgres ones
  // as one statement (conversation, message, ordering gate, active session). A job carrying its message
  // stores it first (below); then the gate reads follow. The cancel flag is read with the lease, or
  // before the job is put back to wait (a cancelled turn never waits): see `cancelledInsteadOfWaiting`.
  const byId = data.content === undefined;
  const [reads, gateMs] = await Promise.all([
    byId
      ? readTurnStart(deps.db, data)
      : getConversation(deps.db, data.tenantId, data.conversationId).then(conversationOnly),
    deps.rateGate.remainingMs(),
  ]);
  const { conversation } = reads;
  if (!conversation) {
    log.warn({ event: 'turn.job_rejected', reason: 'conversation_not_found' }, 'conversation not found');
    throw new UnrecoverableError('conversation_not_found: no such conversation for this tenant');
  }
  const message = byId ? storedUserMessage(data, reads.message) : await ensureUserMessage(deps, data, job);

  if (isFinalStatus(message.status)) return endedTurn(deps, message, log);
  const unstarted: UnstartedTurn = { deps, tenantId: data.tenantId, message, log };

  // The ordering gate and the active session (the lease needs it next), read with the rest when the
  // message was.
  const [earlierId, session] = reads.session
    ? [reads.earlierUnfinishedId, reads.session]
    : await Promise.all([
        firstUnfinishedBefore(deps.db, conversation.id, message.seq).then((m) => m?.id ?? null),
        ensureActiveSession(deps.db, data.tenantId, conversation.id),
      ]);
  if (earlierId) {
    const cancelled = await cancelledInsteadOfWaiting(unstarted);
    if (cancelled) return cancelled;
    log.debug({ event: 'turn.order_waiting', earlierMessageId: earlierId }, 'earlier message unfinished');
    // The turn that ends next reads the mark with its lease release and wakes this job.
    await deps.leases.markWaiting(conversation.id).catch(() => undefined);
    return delay(job, token, deps.config.waitDelayMs);
  }

  if (gateMs > 0) {
    const cancelled = await cancelledInsteadOfWaiting(unstarted);
    return cancelled ?? waitAtRateGate(job, token, deps, message, gateMs, log);
  }

  // A fair share: beyond its running-turn limit a tenant's turn waits (delayed, not an attempt).
  return withTenantSlot(
    deps.tenantGate,
    job,
    token,
    data.tenantId,
    () => leaseAndRun({ job, token, deps, data, conversation, message, session, log, lockSignal }),
    { insteadOfWaiting: () => cancelledInsteadOfWaiting(unstarted) },
  );
}

/** What ending a turn that has not started needs. */
interface UnstartedTurn {
  deps: TurnDeps;
  tenantId: string;
  message: Message;
  log: TurnDeps['logger'];
}

/**
 * A job about to be put back to wait (ordering gate, rate gate, tenant slot, lease held elsewhere)
 * reads its cancel flag first: a cancelled turn ends now instead (null: not cancelled, wait). The
 * job that goes on to run reads the flag with its lease instead, in the same script.
 */
async function cancelledInsteadOfWaiting(t: UnstartedTurn): Promise<TurnResult | null> {
  const { deps, message } = t;
  const key = cancelFlagKey(deps.config.redisPrefix, message.conversationId, message.id);
  if (!(await deps.redis.exists(key))) return null;
  const result = await cancelBeforeStart(t);
  await promoteNext(deps, message.conversationId, message.seq);
  return result;
}

/**
 * A turn cancelled before it started: the same ending as the API's cancel of a queued turn (a partial
 * of an earlier attempt kept), then `turn.cancelled`.
 */
function cancelBeforeStart(t: UnstartedTurn): Promise<TurnResult> {
  return cancelUnstartedTurn(t.deps, { tenantId: t.tenantId, message: t.message, fence: null, log: t.log });
}

/**
 * Register the turn where cancels and shutdown reach it, take the conversation lease (reading the cancel
 * flag in the same script: a turn cancelled before it started ends there), then at once start the Claude request (its transcript read against
 * the session as read before the lease) while the session fence is claimed (with the reply and attempt
 * rows of a first attempt, in the same statement); run the turn once it is.
 */
async function leaseAndRun(t: Omit<LeasedTurn, 'lease'>): Promise<TurnResult> {
  const { deps, message } = t;
  const abort = new TurnAbort();
  // Registered before the lease script reads the cancel flag again (the cancel channel reaches the turn
  // from here on): a cancel since processTurnJob read the flag is seen by one or the other.
  deps.running.add(message.id, abort);
  try {
    return await leasedRun(t, abort);
  } finally {
    deps.running.delete(message.id);
  }
}

async function leasedRun(t: Omit<LeasedTurn, 'lease'>, abort: TurnAbort): Promise<TurnResult> {
  const { job, token, deps, data, conversation, message, log, session: session0 } = t;
  const lease = await deps.leases.acquire(conversation.id, deps.workerId, session0.fence, {
    flag: cancelFlagKey(deps.config.redisPrefix, conversation.id, message.id),
  });
  if (!lease) {
    const cancelled = await cancelledInsteadOfWaiting({ deps, tenantId: data.tenantId, message, log });
    if (cancelled) return cancelled;
    // The acquire script marked the conversation as waited on: the holder wakes this job when it ends.
    log.debug({ event: 'lease.acquire_rejected' }, 'conversation lease held elsewhere');
    return delay(job, token, deps.config.waitDelayMs);
  }
  try {
    // Cancelled before it started (the flag read with the lease): ended while holding the lease. A
    // message queued behind it is woken by the release below (it marked the conversation as waited on).
    if (lease.flagged) return await cancelBeforeStart({ deps, tenantId: data.tenantId, message, log });
    return await confirmAndRun({ ...t, lease }, abort);
  } finally {
    // Only when a job marked the conversation as waited on is there one to wake.
    const mark = await lease.release();
    if (mark !== null) await promoteNext(deps, conversation.id, message.seq, mark);
  }
}

/**
 * Holding the lease: start the Claude request early while the session fence is claimed (with the
 * reply and attempt rows of a first attempt), then run the turn once it is.
 */
async function confirmAndRun(t: LeasedTurn, abort: TurnAbort): Promise<TurnResult> {
  const { job, token, deps, data, conversation, message, log, lockSignal, lease, session: session0 } = t;
  const flog = log.child({ fence: lease.fence });
  abort.follow(lease.signal, 'lease_lost');
  abort.follow(lockSignal, 'lock_lost');
  const earlyAbort = new AbortController();
  const start = {
    abort,
    early: startEarly(t, session0, AbortSignal.any([abort.signal, earlyAbort.signal])),
    discardEarly: () => earlyAbort.abort(),
  };
  try {
    const { claim, opened } = await openTurn(deps.db, {
      tenantId: data.tenantId,
      conversationId: conversation.id,
      sessionId: session0.id,
      fence: lease.fence,
      userMessageId: message.id,
      userMessageSeq: message.seq,
      mode: data.mode ?? conversation.defaultMode,
      jobId: job.id ?? null,
      attempt: job.attemptsMade + 1,
      workerId: deps.workerId,
    });
    if (!claim.ok) {
      flog.warn({ event: 'lease.claim_rejected', conflict: claim.conflict }, 'session claim refused');
      await deps.leases.markWaiting(conversation.id).catch(() => undefined);
      return await delay(job, token, deps.config.waitDelayMs);
    }
    if (predatesSession(message, claim.session)) {
      return await cancelPreResetTurn(deps, {
        tenantId: data.tenantId,
        message,
        fence: lease.fence,
        log: flog,
      });
    }
    return await runLeasedTurn(
      {
        deps,
        job,
        token,
        data,
        conversation,
        message,
        session: claim.session,
        lease,
        lockSignal,
        log: flog,
      },
      { ...start, opened },
    );
  } finally {
    // A turn that did not start publishes nothing of the early request: it is stopped here.
    earlyAbort.abort();
  }
}

/** The reads of a job whose message is not stored yet: its conversation only. */
function conversationOnly(conversation: TurnReads['conversation']): TurnReads {
  return { conversation, message: null, earlierUnfinishedId: null, session: null };
}

/** The job's user message: stored now (with `turn.queued`) when the job carries it, else looked up. */
async function ensureUserMessage(deps: TurnDeps, data: ConversationTurnJob, job: Job): Promise<Message> {
  if (data.content !== undefined) {
    const callbackUrl = await checkedCallbackUrl(deps.db, data);
    const res = await insertUserMessage(deps.db, {
      // The producer's id, scoped to its tenant: another tenant's id behaves like a fresh one.
      id: await storedMessageId(deps.db, data.tenantId, data.messageId),
      tenantId: data.tenantId,
      conversationId: data.conversationId,
      content: data.content,
      mode: data.mode,
      ...(callbackUrl !== undefined ? { callbackUrl } : {}),
      ...(data.v === 2 && data.metadata !== undefined ? { metadata: data.metadata } : {}),
    });
    if (!res.ok) throw new UnrecoverableError(`${res.reason}: message ${data.messageId} cannot be stored`);
    // From now on the job names the stored message (a redelivery, the failed handler).
    if (res.message.id !== data.messageId) await job.updateData({ ...data, messageId: res.message.id });
    if (res.created) {
      await deps.streams.publish(data.conversationId, null, [
        { type: 'turn.queued', messageId: res.message.id },
      ]);
    }
    return res.message;
  }
  return storedUserMessage(data, await getMessage(deps.db, data.tenantId, data.messageId));
}

/** The stored user message a job without content names (looked up by its id), or why it cannot run. */
function storedUserMessage(data: ConversationTurnJob, found: Message | null): Message {
  if (!found || found.conversationId !== data.conversationId || found.role !== 'user') {
    throw new UnrecoverableError(
      'message_not_found: the job names no stored user message and carries no content',
    );
  }
  return found;
}

/** Longest wait of a job queued behind another turn of its conversation (it is promoted sooner). */
const MAX_WAIT_MS = 5_000;

/**
 * Put the job back for later without consuming an attempt. The wait doubles each time the job finds
 * the conversation busy (the turn that ends promotes the next job, so waiting longer costs no latency).
 */
async function delay(job: Job, token: string | undefined, baseMs: number): Promise<never> {
  const waits = Math.max(0, job.attemptsStarted - job.attemptsMade - 1);
  const ms = Math.max(baseMs, Math.min(MAX_WAIT_MS, baseMs * 2 ** Math.min(waits, 10)));
  const jitter = Math.floor(Math.random() * ms * 0.5);
  await job.moveToDelayed(Date.now() + ms + jitter, token);
  throw new DelayedError();
}

/**
 * Claude rate-limited this API key (any worker's call): the turn does not start before the server's
 * wait has passed. It says so (`turn.rate_limited` with the time) and waits as a delayed job.
 */
async function waitAtRateGate(
  job: Job,
  token: string | undefined,
  deps: TurnDeps,
  message: Message,
  waitMs: number,
  log: TurnDeps['logger'],
): Promise<never> {
  const retryAt = Date.now() + waitMs;
  await deps.streams.publish(message.conversationId, null, [
    { type: 'turn.rate_limited', messageId: message.id, retryAt: new Date(retryAt).toISOString() },
  ]);
  log.info({ event: 'turn.rate_limit_waiting', waitMs }, 'waiting for the Claude rate limit');
  return delayUntil(job, token, retryAt);
}

/**
 * Wake the next message of the conversation if its job is waiting out a delay. With the conversation's
 * waiting `mark` (read by the lease release): when no message waits any more, the mark is dropped
 * (unless a job marked the conversation again since), so later turns do not look again.
 */
async function promoteNext(
  deps: TurnDeps,
  conversationId: string,
  seq: number,
  mark?: string,
): Promise<void> {
  try {
    const next = await nextPendingAfter(deps.db, conversationId, seq);
    if (!next) {
      if (mark !== undefined && mark !== UNKNOWN_MARK) await deps.leases.clearWaiting(conversationId, mark);
      return;
    }
    await promoteTurnJob(deps.queue, next.id);
  } catch (err) {
    // Only latency is at stake: the job runs when its delay ends anyway.
    deps.logger.debug(
      { event: 'turn.promote_failed', conversationId, err: String(err) },
      'could not promote',
    );
  }
}

import { randomUUID } from 'node:crypto';
import { bullPrefixFor } from '@turnstream/config';
import { type ConnectionOptions, type Job, Queue, QueueEvents } from 'bullmq';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { CANCEL_FLAG_TTL_SECONDS, type CancelRequest, cancelChannel, cancelFlagKey } from '../cancel.ts';
import { enqueueTurn } from '../enqueue.ts';
import { INTAKE_JOB_OPTIONS, type IntakeResult } from '../intake.ts';
import { intakeJobId } from '../message-ids.ts';
import { promoteTurnJob } from '../promote.ts';
import { DEFAULT_BULL_PREFIX, TURNS_INTAKE_QUEUE, TURNS_QUEUE, turnJobId } from '../queue.ts';
import { conversationKeys, DEFAULT_KEY_PREFIX } from '../stream-keys.ts';
import { describeJobIssues, type TurnMode, turnJobV2Schema } from '../turn-job.ts';
import {
  InvalidTurnInputError,
  MessageNotFoundError,
  TurnRejectedError,
  TurnsClientAbortedError,
  TurnTimeoutError,
} from './errors.ts';
import { type ClientEvent, readEventLog } from './event-log.ts';
import { IntakeRemovedError, waitForIntakeJob } from './intake-wait.ts';
import { outcomeOf, type TurnOutcome } from './outcome.ts';

/** Options of {@link TurnsClient}. Prefixes and queue names must match the workers'. */
export interface TurnsClientOptions {
  /**
   * The Redis the workers use: an ioredis `Redis` or `Cluster` (duplicated, never closed), or the options
   * of one server. For a Redis Cluster (`REDIS_CLUSTER_NODES`) pass a `Cluster`.
   */
  connection: ConnectionOptions;
  /**
   * BullMQ key prefix (`BULL_PREFIX`). Default `bull`. On a `Cluster` a prefix without a hash tag is
   * wrapped in one (`{bull}`), as the API and workers do.
   */
  prefix?: string;
  /** Turns queue (`TURNS_QUEUE_NAME`). Default `turns`. */
  queueName?: string;
  /** Intake queue (`TURNS_INTAKE_QUEUE_NAME`). Default `turns-intake`. */
  intakeQueueName?: string;
  /** Prefix of Turnstream's own Redis keys: event logs, cancel flags (`REDIS_PREFIX`). Default `ts`. */
  keyPrefix?: string;
  /** How long `enqueue` waits for a worker to store the message, in ms. Default 30_000. */
  enqueueTimeoutMs?: number;
}

/** Input of {@link TurnsClient.enqueue}. */
export interface EnqueueTurnInput {
  /** The tenant the conversation belongs to. */
  tenantId: string;
  /** The conversation (Turnstream's id). Give this or `externalConversationId`. */
  conversationId?: string;
  /** Your own id for the conversation, unique per tenant: created on first use. */
  externalConversationId?: string;
  /**
   * Your id for the message (a UUID). Default: a new one. The same id again is the same message. It is
   * scoped to the tenant: the message is stored under {@link EnqueuedMessage.messageId}.
   */
  messageId?: string;
  /** The user message. */
  content: string;
  /** `stream` (chunks as they come) or `batch` (the final reply only). Default: the conversation's. */
  mode?: TurnMode;
  /**
   * Also deliver this message's outcome as a signed webhook to this URL: it must be on the origin of one
   * of the tenant's webhook endpoints (`POST /v1/webhooks`), else `TurnRejectedError`
   * `callback_url_not_registered`.
   */
  callbackUrl?: string;
  /** Your own data about the message (up to 32 string values), stored and returned with it. */
  metadata?: Record<string, string>;
}

/** Outcome of {@link TurnsClient.enqueue}: the message is stored and its turn queued. */
export interface EnqueuedMessage {
  /**
   * The user message's id in Turnstream (in the history, in events; what `events`, `waitForReply` and
   * `cancel` take): `scopedMessageId(tenantId, yourId)`, or your id itself when it already named one of
   * the tenant's stored messages.
   */
  messageId: string;
  /** Its conversation. */
  conversationId: string;
  /** The turn's BullMQ job id on the turns queue. */
  jobId: string;
}

/** What {@link TurnsClient.events} follows: a whole conversation, or one message's turn. */
export type EventsTarget =
  | {
      /** Every event of this conversation. */
      conversationId: string;
    }
  | {
      /** This message's turn only. */
      messageId: string;
    };

/** Options of {@link TurnsClient.events}. */
export interface EventsOptions {
  /** Resume strictly after this event id (the `id` of the last event you handled). */
  after?: string;
  /** Ends the iteration. */
  signal?: AbortSignal;
}

/** Options of {@link TurnsClient.waitForReply}. */
export interface WaitForReplyOptions {
  /** Give up after this many ms ({@link TurnTimeoutError}). Default: wait as long as it takes. */
  timeoutMs?: number;
  /** Ends the wait ({@link TurnsClientAbortedError}). */
  signal?: AbortSignal;
}

/** The reason of a {@link TurnRejectedError} `removed`. */
const REMOVED_REASON =
  'removed: the message was removed from the intake queue before a worker took it (its conversation was deleted, or an operator removed it); nothing was stored';

/** How many message -> conversation pairs a client remembers. */
const KNOWN_MESSAGES = 10_000;

/**
 * For services that integrate with Turnstream through its Redis (no HTTP hop, no database
 * credentials). `enqueue` hands the message to a worker through the intake queue and returns once it
 * is stored (visible in the history, `turn.queued` in the log); `events`, `waitForReply` and `cancel`
 * work from Redis alone (the event log, the turns queue, the cancel channel).
 */
export class TurnsClient {
  /** The turns queue (read only by the client: it looks up which conversation a message is in). */
  readonly queue: Queue;
  /** The intake queue `enqueue` writes to. */
  readonly intake: Queue;
  private readonly opts: TurnsClientOptions;
  private readonly keyPrefix: string;
  private readonly conversations = new Map<string, string>();
  private readonly readers = new Set<Redis | Cluster>();
  private intakeEvents: Promise<QueueEvents> | undefined;
  private commands: Redis | Cluster | undefined;
  private readonly bullPrefix: string;
  private closed = false;

  /** Opens the two queues' connections now; event readers and the command connection on first use. */
  constructor(opts: TurnsClientOptions) {
    this.opts = opts;
    const prefix = bullPrefixFor(opts.prefix ?? DEFAULT_BULL_PREFIX, opts.connection instanceof Cluster);
    this.bullPrefix = prefix;
    this.keyPrefix = opts.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.queue = new Queue(opts.queueName ?? TURNS_QUEUE, { connection: opts.connection, prefix });
    this.intake = new Queue(opts.intakeQueueName ?? TURNS_INTAKE_QUEUE, {
      connection: opts.connection,
      prefix,
    });
  }

  /**
   * Hand a user message to Turnstream and return once a worker has stored it: it is in the history,
   * `turn.queued` is in the conversation's log, and its turn is queued. Idempotent by `messageId`:
   * the same message again creates nothing and makes no second reply.
   * @throws InvalidTurnInputError when the input is invalid (nothing is sent).
   * @throws TurnRejectedError when a worker refuses the message (nothing is stored), or (`code`
   * `removed`) when it was removed from the intake queue before a worker took it (by the deletion of its
   * conversation, or an operator).
   * @throws TurnTimeoutError when no worker stored it within `enqueueTimeoutMs`.
   */
  async enqueue(input: EnqueueTurnInput): Promise<EnqueuedMessage> {
    const messageId = input.messageId ?? randomUUID();
    const parsed = turnJobV2Schema.safeParse({ ...input, v: 2, messageId, acceptedAt: Date.now() });
    if (!parsed.success)
      throw new InvalidTurnInputError(describeJobIssues(parsed.error), { cause: parsed.error });
    if (parsed.data.content === undefined) throw new InvalidTurnInputError('content: required');
    const events = await this.intakeQueueEvents();
    // Scoped to the tenant: producers of two tenants using the same id never share an intake job.
    const intakeId = intakeJobId(parsed.data.tenantId, messageId);
    // A failed intake of this message (e.g. a conversation that did not exist) is tried afresh.
    const previous = await this.intake.getJob(intakeId);
    if (previous && (await previous.isFailed())) await previous.remove().catch(() => undefined);
    const { job } = await enqueueTurn(this.intake, parsed.data, { ...INTAKE_JOB_OPTIONS, jobId: intakeId });
    const result = await this.waitForIntake(job, events, messageId);
    this.remember(result.messageId, result.conversationId);
    return {
      messageId: result.messageId,
      conversationId: result.conversationId,
      jobId: turnJobId(result.messageId),
    };
  }

  /**
   * The events of a conversation, or of one message's turn (ending after its terminal event), as the
   * SSE endpoint sends them: each with its log id, in order, first those still kept then live ones.
   * Resume with `after`; a `stream.gap` notice comes first when the log no longer reaches it.
   * @throws MessageNotFoundError (when iterated) for a message no queue knows.
   */
  events(target: EventsTarget, opts: EventsOptions = {}): AsyncIterable<ClientEvent> {
    return {
      [Symbol.asyncIterator]: () => this.followEvents(target, opts)[Symbol.asyncIterator](),
    };
  }

  /**
   * Wait for a message's turn to end, from its events (never by polling): the completed reply, or how
   * it failed or was cancelled. Works for a turn that ended already while its events are kept (a day
   * by default).
   * @throws TurnTimeoutError after `timeoutMs`.
   * @throws TurnsClientAbortedError when `signal` aborts.
   * @throws MessageNotFoundError for a message no queue knows.
   */
  async waitForReply(messageId: string, opts: WaitForReplyOptions = {}): Promise<TurnOutcome> {
    const controller = new AbortController();
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(
            () => controller.abort(new TurnTimeoutError(messageId, opts.timeoutMs!)),
            opts.timeoutMs,
          );
    const onAbort = () => controller.abort(new TurnsClientAbortedError({ cause: opts.signal?.reason }));
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const item of this.followEvents({ messageId }, { signal: controller.signal })) {
        const outcome = item.id === null ? null : outcomeOf(item.event);
        if (outcome) return outcome;
      }
      throw new MessageNotFoundError(messageId);
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Ask for a message's turn to be cancelled, wherever it is: a running turn stops now, a queued one
   * when a worker reaches it (a delayed one is woken for that). Its end comes as `turn.cancelled` (or,
   * when it ended first, as its other terminal event).
   * @throws MessageNotFoundError for a message no queue knows.
   */
  async cancel(messageId: string): Promise<void> {
    const conversationId = await this.conversationOf(messageId);
    const redis = this.commandConnection();
    const signal: CancelRequest = { conversationId, messageId };
    await redis.set(
      cancelFlagKey(this.keyPrefix, conversationId, messageId),
      '1',
      'EX',
      CANCEL_FLAG_TTL_SECONDS,
    );
    await redis.publish(cancelChannel(this.keyPrefix), JSON.stringify(signal));
    await promoteTurnJob(this.queue, messageId);
  }

  /** Close every connection this client opened (open event iterations end with an error). */
  async close(): Promise<void> {
    this.closed = true;
    for (const reader of this.readers) reader.disconnect();
    const events = this.intakeEvents;
    await Promise.allSettled([
      this.queue.close(),
      this.intake.close(),
      events?.then((e) => e.close()),
      this.commands?.quit(),
    ]);
  }

  private followEvents(target: EventsTarget, opts: EventsOptions): AsyncIterable<ClientEvent> {
    const client = this;
    return {
      async *[Symbol.asyncIterator]() {
        const messageId = 'messageId' in target ? target.messageId : undefined;
        const conversationId =
          'conversationId' in target ? target.conversationId : await client.conversationOf(target.messageId);
        const reader = client.newConnection();
        client.readers.add(reader);
        try {
          yield* readEventLog(reader, conversationKeys(client.keyPrefix, conversationId).log, {
            ...(opts.after !== undefined ? { after: opts.after } : {}),
            ...(messageId !== undefined ? { messageId } : {}),
            ...(opts.signal ? { signal: opts.signal } : {}),
          });
        } finally {
          client.readers.delete(reader);
        }
      },
    };
  }

  /** The conversation of a message: remembered from `enqueue`, else read from its turn job. */
  private async conversationOf(messageId: string): Promise<string> {
    const known = this.conversations.get(messageId);
    if (known) return known;
    const turn = await this.queue.getJob(turnJobId(messageId));
    const fromTurn = (turn?.data as { conversationId?: unknown } | undefined)?.conversationId;
    if (typeof fromTurn === 'string') return this.remember(messageId, fromTurn);
    throw new MessageNotFoundError(messageId);
  }

  private remember(messageId: string, conversationId: string): string {
    if (this.conversations.size >= KNOWN_MESSAGES) {
      const oldest = this.conversations.keys().next().value;
      if (oldest !== undefined) this.conversations.delete(oldest);
    }
    this.conversations.set(messageId, conversationId);
    return conversationId;
  }

  private async waitForIntake(job: Job, events: QueueEvents, messageId: string): Promise<IntakeResult> {
    const timeoutMs = this.opts.enqueueTimeoutMs ?? 30_000;
    try {
      return (await waitForIntakeJob(this.intake, job, events, { timeoutMs })) as IntakeResult;
    } catch (err) {
      if (err instanceof IntakeRemovedError) throw new TurnRejectedError('removed', REMOVED_REASON);
      const reason = err instanceof Error ? err.message : String(err);
      if (/timed out before finishing/i.test(reason)) throw new TurnTimeoutError(messageId, timeoutMs);
      throw new TurnRejectedError(reason.split(':')[0]?.trim() || 'rejected', reason);
    }
  }

  private intakeQueueEvents(): Promise<QueueEvents> {
    this.intakeEvents ??= (async () => {
      const events = new QueueEvents(this.intake.name, {
        connection: this.opts.connection,
        prefix: this.bullPrefix,
      });
      await events.waitUntilReady();
      return events;
    })();
    return this.intakeEvents;
  }

  private commandConnection(): Redis | Cluster {
    this.commands ??= this.newConnection();
    return this.commands;
  }

  private newConnection(): Redis | Cluster {
    if (this.closed) throw new TurnsClientAbortedError({ cause: new Error('client closed') });
    const c = this.opts.connection;
    if (c instanceof Cluster) return c.duplicate();
    if (c instanceof Redis) return c.duplicate();
    return new Redis({ ...(c as RedisOptions), maxRetriesPerRequest: null });
  }
}

import type Anthropic from '@anthropic-ai/sdk';
import { AnthropicError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import { MessageAssembler } from './assemble.ts';
import { beforeSendMiddleware } from './before-send.ts';
import { cachedSystem, withTurnBreakpoint } from './caching.ts';
import { ClaudeStreamIdleError, ClaudeStreamIncompleteError, claudeRequestIdOf } from './errors.ts';
import type { ClaudeLogger } from './logger.ts';
import { sseEvents } from './sse-events.ts';
import type { ClaudeChunk, StreamRequest } from './types.ts';
import { IdleWatchdog } from './watchdog.ts';

export interface StreamDeps {
  client: Anthropic;
  idleTimeoutMs: number;
  logger: ClaudeLogger;
}

/** The Messages API request the provider sends for `req` (cache breakpoints, thinking, streaming). */
export function buildParams(req: StreamRequest): Anthropic.MessageCreateParamsStreaming {
  const system = cachedSystem(req.system);
  return {
    model: req.model,
    max_tokens: req.maxTokens,
    messages: withTurnBreakpoint(req.messages),
    stream: true,
    ...(system ? { system } : {}),
    ...(req.thinking ? { thinking: { type: 'enabled', budget_tokens: req.thinking.budgetTokens } } : {}),
  };
}

/**
 * One streamed assistant message: normalized chunks, then `message_completed`. Throws SDK errors
 * (status errors, connection errors, a midstream `error` event), {@link ClaudeStreamIdleError} when
 * the API goes quiet for `idleTimeoutMs`, {@link ClaudeStreamIncompleteError} when the stream ends
 * or breaks before `message_stop`, and `APIUserAbortError` when the caller's signal aborts.
 * Feed any of them to `classifyClaudeError`. Iterated once, one `next()` at a time (as `for await`
 * does); nothing is sent before the first `next()`.
 */
export function streamMessage(deps: StreamDeps, req: StreamRequest): AsyncIterableIterator<ClaudeChunk> {
  return new MessageStream(deps, req);
}

/**
 * The iterator of {@link streamMessage}, written out rather than as an async generator: each SSE
 * event costs one `then` on the events' iterator, not a generator request, a promise and two awaits
 * (the event's and the yielded chunk's). Under a worker holding thousands of streams those per-event
 * objects were a good part of what every scavenge copied.
 *
 * The watchdog is armed while the API is awaited (the response, the next event) and disarmed while the
 * consumer handles a chunk. Whatever way the stream ends (completed, failed, stopped by the consumer)
 * the watchdog and the caller's abort listener are released; unless it completed, the request is
 * aborted and the events' iterator closed.
 */
class MessageStream implements AsyncIterableIterator<ClaudeChunk> {
  readonly #deps: StreamDeps;
  readonly #req: StreamRequest;
  readonly #controller = new AbortController();
  readonly #watchdog: IdleWatchdog;
  readonly #assembler = new MessageAssembler();
  #startedAt = 0;
  #requestId: string | null = null;
  #events: AsyncIterator<Anthropic.RawMessageStreamEvent> | undefined;
  /** new: not started; open: streaming; final: `message_completed` handed out; done: released. */
  #phase: 'new' | 'open' | 'final' | 'done' = 'new';
  #completed = false;
  /** The last `next()`: a `return()` waits for it (an async generator queues its calls too). */
  #last: Promise<IteratorResult<ClaudeChunk>> | undefined;

  constructor(deps: StreamDeps, req: StreamRequest) {
    this.#deps = deps;
    this.#req = req;
    this.#watchdog = new IdleWatchdog(deps.idleTimeoutMs, () => this.#controller.abort());
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<ClaudeChunk>> {
    let result: Promise<IteratorResult<ClaudeChunk>>;
    switch (this.#phase) {
      case 'new':
        result = this.#open();
        break;
      case 'open':
        this.#watchdog.arm();
        result = this.#events!.next().then(this.#onEvent, this.#onReadError);
        break;
      case 'final':
        this.#release();
        result = Promise.resolve({ done: true, value: undefined });
        break;
      default:
        result = Promise.resolve({ done: true, value: undefined });
    }
    this.#last = result;
    return result;
  }

  return(): Promise<IteratorResult<ClaudeChunk>> {
    const stop = (): IteratorResult<ClaudeChunk> => {
      if (this.#phase === 'new') this.#phase = 'done';
      else this.#release();
      return { done: true, value: undefined };
    };
    return this.#last ? this.#last.then(stop, stop) : Promise.resolve(stop());
  }

  #open(): Promise<IteratorResult<ClaudeChunk>> {
    const { logger } = this.#deps;
    const req = this.#req;
    if (req.signal?.aborted) {
      this.#phase = 'done';
      return Promise.reject(new APIUserAbortError());
    }
    req.signal?.addEventListener('abort', this.#onCallerAbort, { once: true });
    this.#phase = 'open';
    this.#startedAt = Date.now();
    logger.debug({ event: 'claude.stream_started', model: req.model, messageCount: req.messages.length });
    try {
      this.#watchdog.arm();
      // A wait right before the request leaves (the rate gate) is not the API being idle.
      const middleware = req.beforeSend
        ? [
            beforeSendMiddleware(req.beforeSend, this.#controller.signal, {
              started: () => this.#watchdog.disarm(),
              ended: () => this.#watchdog.arm(),
            }),
          ]
        : [];
      return this.#deps.client.messages
        .create(buildParams(req), { signal: this.#controller.signal, middleware })
        .asResponse()
        .then(this.#onResponse, (err: unknown) => this.#fail(this.#translate(err, false)));
    } catch (err) {
      return this.#fail(err);
    }
  }

  readonly #onCallerAbort = () => this.#controller.abort();

  /**
   * The SDK made the request (headers, auth, status errors as `APIError`s, its retries when enabled);
   * its body is decoded here (`sse-events.ts`) rather than by the SDK's `Stream`, whose four nested
   * async generators cost about twice the CPU and four times the bytes per event. (With OpenTelemetry
   * on, the SDK ends its own span of the call when `asResponse()` resolves; `claude.stream`, the
   * worker's span, covers the whole stream.)
   */
  readonly #onResponse = (response: Response): Promise<IteratorResult<ClaudeChunk>> => {
    this.#requestId = response.headers.get('request-id');
    const events = sseEvents(response, this.#controller);
    this.#events = events;
    // Still armed since the request left: the wait for the first event counts from then.
    return events.next().then(this.#onEvent, this.#onReadError);
  };

  readonly #onEvent = (
    step: IteratorResult<Anthropic.RawMessageStreamEvent>,
  ): IteratorResult<ClaudeChunk> | Promise<IteratorResult<ClaudeChunk>> => {
    this.#watchdog.disarm();
    try {
      if (step.done) return this.#finish();
      const chunk = this.#assembler.apply(step.value);
      if (chunk) return { done: false, value: chunk };
    } catch (err) {
      return this.#fail(err);
    }
    // An event without a chunk (start, stop, ping): on to the next one.
    this.#watchdog.arm();
    return this.#events!.next().then(this.#onEvent, this.#onReadError);
  };

  readonly #onReadError = (err: unknown): Promise<never> => {
    this.#watchdog.disarm();
    return this.#fail(this.#translate(err, true));
  };

  /** The events ended: with `message_stop`, the final chunk; without, find out why it ended. */
  #finish(): IteratorResult<ClaudeChunk> {
    const { logger, idleTimeoutMs } = this.#deps;
    // The events end quietly when the request is aborted (as the SDK's `Stream` does).
    if (!this.#assembler.stopped) {
      if (this.#watchdog.fired) throw new ClaudeStreamIdleError(idleTimeoutMs);
      if (this.#req.signal?.aborted) throw new APIUserAbortError();
      throw new ClaudeStreamIncompleteError(this.#assembler.lastEvent);
    }
    const result = this.#assembler.result();
    this.#completed = true;
    this.#phase = 'final';
    logger.info({
      event: 'claude.stream_completed',
      model: this.#req.model,
      requestId: this.#requestId,
      durationMs: Date.now() - this.#startedAt,
      stopReason: result.stopReason,
      usage: result.usage,
    });
    return { done: false, value: { type: 'message_completed', ...result, requestId: this.#requestId } };
  }

  /** What an error thrown by the SDK means, given who (if anyone) aborted the request. */
  #translate(err: unknown, duringBody: boolean): unknown {
    if (this.#watchdog.fired) return new ClaudeStreamIdleError(this.#deps.idleTimeoutMs, { cause: err });
    if (this.#req.signal?.aborted) return err instanceof APIUserAbortError ? err : new APIUserAbortError();
    if (duringBody && !(err instanceof AnthropicError)) {
      return new ClaudeStreamIncompleteError(this.#assembler.lastEvent, { cause: err });
    }
    return err;
  }

  #fail(err: unknown): Promise<never> {
    logFailure(this.#deps.logger, err, {
      model: this.#req.model,
      requestId: this.#requestId ?? claudeRequestIdOf(err),
      durationMs: Date.now() - this.#startedAt,
    });
    this.#release();
    return Promise.reject(err);
  }

  /** Once: stop the watchdog and the abort listener; a stream that did not complete is aborted. */
  #release(): void {
    if (this.#phase === 'done') return;
    this.#phase = 'done';
    this.#watchdog.stop();
    this.#req.signal?.removeEventListener('abort', this.#onCallerAbort);
    // A consumer that stopped early (or an error) must not leave the connection open.
    if (!this.#completed) {
      this.#controller.abort();
      this.#events?.return?.().catch(() => {});
    }
  }
}

function logFailure(logger: ClaudeLogger, err: unknown, fields: Record<string, unknown>): void {
  if (err instanceof APIUserAbortError) {
    logger.info({ event: 'claude.stream_cancelled', ...fields });
    return;
  }
  const detail =
    err instanceof APIError
      ? { status: err.status ?? null, errorType: err.type, errorCode: err.errorCode }
      : { errorName: err instanceof Error ? err.name : typeof err };
  const event = err instanceof ClaudeStreamIdleError ? 'claude.stream_idle_detected' : 'claude.stream_failed';
  logger.warn({ event, ...fields, ...detail });
}

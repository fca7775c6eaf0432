import type Anthropic from '@anthropic-ai/sdk';
import { AnthropicError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import { MessageAssembler } from './assemble.ts';
import { beforeSendMiddleware } from './before-send.ts';
import { cachedSystem, withTurnBreakpoint } from './caching.ts';
import { ClaudeStreamIdleError, ClaudeStreamIncompleteError, claudeRequestIdOf } from './errors.ts';
import type { ClaudeLogger } from './logger.ts';
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
 * Feed any of them to `classifyClaudeError`.
 */
export async function* streamMessage(deps: StreamDeps, req: StreamRequest): AsyncGenerator<ClaudeChunk> {
  const { logger, idleTimeoutMs } = deps;
  const callerSignal = req.signal;
  if (callerSignal?.aborted) throw new APIUserAbortError();

  const controller = new AbortController();
  const onCallerAbort = () => controller.abort();
  callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
  const watchdog = new IdleWatchdog(idleTimeoutMs, () => controller.abort());
  const assembler = new MessageAssembler();
  const startedAt = Date.now();
  let requestId: string | null = null;
  let completed = false;

  /** What an error thrown by the SDK means, given who (if anyone) aborted the request. */
  const translate = (err: unknown, duringBody: boolean): unknown => {
    if (watchdog.fired) return new ClaudeStreamIdleError(idleTimeoutMs, { cause: err });
    if (callerSignal?.aborted) return err instanceof APIUserAbortError ? err : new APIUserAbortError();
    if (duringBody && !(err instanceof AnthropicError)) {
      return new ClaudeStreamIncompleteError(assembler.lastEvent, { cause: err });
    }
    return err;
  };

  logger.debug({ event: 'claude.stream_started', model: req.model, messageCount: req.messages.length });
  let events: AsyncIterator<Anthropic.RawMessageStreamEvent> | undefined;
  try {
    watchdog.arm();
    // A wait right before the request leaves (the rate gate) is not the API being idle.
    const middleware = req.beforeSend
      ? [
          beforeSendMiddleware(req.beforeSend, controller.signal, {
            started: () => watchdog.disarm(),
            ended: () => watchdog.arm(),
          }),
        ]
      : [];
    const stream = await deps.client.messages
      .create(buildParams(req), { signal: controller.signal, middleware })
      .withResponse()
      .catch((err: unknown) => {
        throw translate(err, false);
      });
    requestId = stream.request_id ?? null;
    const iterator = stream.data[Symbol.asyncIterator]();
    events = iterator;

    for (;;) {
      let step: IteratorResult<Anthropic.RawMessageStreamEvent>;
      try {
        step = await iterator.next();
      } catch (err) {
        throw translate(err, true);
      } finally {
        watchdog.disarm();
      }
      if (step.done) break;
      const chunk = assembler.apply(step.value);
      if (chunk) yield chunk;
      watchdog.arm();
    }

    // The SDK ends its iterator quietly when the request is aborted: find out why it ended.
    if (!assembler.stopped) {
      if (watchdog.fired) throw new ClaudeStreamIdleError(idleTimeoutMs);
      if (callerSignal?.aborted) throw new APIUserAbortError();
      throw new ClaudeStreamIncompleteError(assembler.lastEvent);
    }
    const result = assembler.result();
    completed = true;
    logger.info({
      event: 'claude.stream_completed',
      model: req.model,
      requestId,
      durationMs: Date.now() - startedAt,
      stopReason: result.stopReason,
      usage: result.usage,
    });
    yield { type: 'message_completed', ...result, requestId };
  } catch (err) {
    logFailure(logger, err, {
      model: req.model,
      requestId: requestId ?? claudeRequestIdOf(err),
      durationMs: Date.now() - startedAt,
    });
    throw err;
  } finally {
    watchdog.stop();
    callerSignal?.removeEventListener('abort', onCallerAbort);
    // A consumer that stopped early (or an error) must not leave the connection open.
    if (!completed) {
      controller.abort();
      events?.return?.().catch(() => {});
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

import Anthropic from '@anthropic-ai/sdk';
import { beforeSendMiddleware } from './before-send.ts';
import { DEFAULT_CLAUDE_HTTP_CLIENT, sdkFetchFor } from './http-client.ts';
import { silentLogger } from './logger.ts';
import { streamMessage } from './stream.ts';
import type { ClaudeProvider, ClaudeProviderOptions, CountTokensRequest } from './types.ts';

const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
const DEFAULT_BASE_URL = 'https://api.anthropic.com';

/** A Claude client that streams normalized chunks and leaves retrying to the caller. */
export function createClaudeProvider(opts: ClaudeProviderOptions): ClaudeProvider {
  const logger = opts.logger ?? silentLogger;
  const fetch = sdkFetchFor(opts.httpClient ?? DEFAULT_CLAUDE_HTTP_CLIENT);
  const client = new Anthropic({
    apiKey: opts.apiKey,
    // Explicit, so the SDK does not pick ANTHROPIC_BASE_URL up from the environment.
    baseURL: opts.baseURL ?? DEFAULT_BASE_URL,
    // The SDK's own retries are OFF: the worker owns retries, so they are fleet-wide (one rate limiter
    // for every replica), visible (each attempt is recorded), and classified (a session-invalid 400 is
    // never retried as is). A retry hidden inside the SDK would be none of these.
    maxRetries: 0,
    ...(fetch ? { fetch } : {}),
    ...(opts.requestTimeoutMs !== undefined ? { timeout: opts.requestTimeoutMs } : {}),
    logLevel: 'warn',
    logger: {
      error: (message: string) => logger.error({ event: 'claude.sdk_logged', message }),
      warn: (message: string) => logger.warn({ event: 'claude.sdk_logged', message }),
      info: () => {},
      debug: () => {},
    },
  });
  const deps = {
    client,
    idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    logger,
  };

  return {
    stream: (req) => streamMessage(deps, req),
    countTokens: async (req: CountTokensRequest) => {
      const result = await client.messages.countTokens(
        { model: req.model, messages: req.messages, ...(req.system ? { system: req.system } : {}) },
        {
          signal: req.signal,
          timeout: opts.requestTimeoutMs ?? deps.idleTimeoutMs,
          middleware: req.beforeSend
            ? [beforeSendMiddleware(req.beforeSend, req.signal ?? new AbortController().signal)]
            : [],
        },
      );
      return result.input_tokens;
    },
  };
}

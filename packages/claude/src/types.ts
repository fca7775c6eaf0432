import type Anthropic from '@anthropic-ai/sdk';
import type { ClaudeHttpClient } from './http-client.ts';
import type { ClaudeLogger } from './logger.ts';

/** One message of a transcript, exactly as the Messages API takes it. */
export type TranscriptMessage = Anthropic.MessageParam;
/** One content block of a transcript message. */
export type TranscriptContentBlock = Anthropic.ContentBlockParam;

export interface ClaudeProviderOptions {
  apiKey: string;
  /** API base URL (the simulator's url in tests). Default `https://api.anthropic.com`. */
  baseURL?: string;
  /** Longest wait for the next SSE event (or for the response to start) before the stream is
   * aborted with {@link ClaudeStreamIdleError}. Default 60_000. */
  idleTimeoutMs?: number;
  /** The SDK's request timeout: connection until response headers. Default 600_000 (the SDK's). */
  requestTimeoutMs?: number;
  /** A pino logger (or anything with debug/info/warn/error). Default: silent. */
  logger?: ClaudeLogger;
  /** `node` (node:http with keep-alive agents: less CPU per streamed chunk) or `fetch` (the platform's).
   * Default: `DEFAULT_CLAUDE_HTTP_CLIENT`. */
  httpClient?: ClaudeHttpClient;
}

/** What a {@link BeforeSend} adds to the request it lets go: headers set on it (none when undefined). */
export interface SendAdditions {
  headers?: Record<string, string>;
}

/** Awaited right before each HTTP request leaves, with the request's signal (see `StreamRequest.beforeSend`). */
export type BeforeSend = (signal: AbortSignal) => Promise<SendAdditions | undefined>;

export interface StreamRequest {
  model: string;
  system?: string;
  messages: TranscriptMessage[];
  maxTokens: number;
  /** Extended thinking with this budget (>= 1024, < maxTokens). */
  thinking?: { budgetTokens: number };
  /** Aborting it cancels the stream; the stream then throws an error classified `cancelled`. */
  signal?: AbortSignal;
  /**
   * Awaited right before each HTTP request leaves (after the SDK built it), e.g. to wait while a rate
   * gate is closed. The idle limit does not run while it waits; it gets the request's signal, aborted
   * when the caller's is. What it throws ends the call as is; the headers it returns go with the request.
   */
  beforeSend?: BeforeSend;
}

export interface CountTokensRequest {
  model: string;
  system?: string;
  messages: TranscriptMessage[];
  signal?: AbortSignal;
  /**
   * Awaited right before each HTTP request leaves (after the SDK built it), e.g. to wait while a rate
   * gate is closed. It gets the request's signal, aborted when the caller's is. What it throws ends the
   * call as is; the headers it returns go with the request.
   */
  beforeSend?: BeforeSend;
}

export interface ClaudeUsage {
  /** Input tokens neither read from nor written to the prompt cache. */
  inputTokens: number;
  outputTokens: number;
  /** Input tokens written to the prompt cache by this request. */
  cacheCreationInputTokens: number;
  /** Input tokens read from the prompt cache by this request. */
  cacheReadInputTokens: number;
}

export type ClaudeChunk =
  | { type: 'text_delta'; text: string }
  | { type: 'thinking_delta'; text: string }
  | {
      type: 'message_completed';
      /** The assistant content, ready to append to a transcript: thinking blocks keep their signatures,
       * empty text blocks are dropped (the API rejects them when sent back). */
      content: TranscriptContentBlock[];
      /** The text blocks' text, concatenated. */
      text: string;
      stopReason: string | null;
      usage: ClaudeUsage;
      /** The API's `request-id` of the call, for support and logs. */
      requestId: string | null;
    };

export interface ClaudeProvider {
  /** Streams one assistant message. Ends with exactly one `message_completed` chunk, or throws. */
  stream(req: StreamRequest): AsyncIterable<ClaudeChunk>;
  /** Input tokens of a request, as counted by the API. */
  countTokens(req: CountTokensRequest): Promise<number>;
}

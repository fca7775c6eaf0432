export {
  DEFAULT_RATE_LIMIT_WAIT_MS,
  exponentialBackoff,
  rateLimitResetFromHeaders,
  rateLimitWaitFromHeaders,
  retryAfterFromHeaders,
} from './backoff.ts';
export { cachedSystem, withTurnBreakpoint } from './caching.ts';
export { type ClassifyOptions, type ClaudeErrorClass, classifyClaudeError, FATAL_CODES } from './classify.ts';
export {
  ClaudeStreamIdleError,
  ClaudeStreamIncompleteError,
  claudeRequestIdOf,
  TranscriptUnavailableError,
} from './errors.ts';
export { formatGateCheck, GATE_CHECK_HEADER, type GateCheck, parseGateCheck } from './gate-check-header.ts';
export {
  CLAUDE_HTTP_CLIENTS,
  type ClaudeHttpClient,
  DEFAULT_CLAUDE_HTTP_CLIENT,
} from './http-client.ts';
export type { ClaudeLogger } from './logger.ts';
export { createNodeFetch, NODE_AGENT_OPTIONS, type NodeFetch } from './node-fetch.ts';
export { createClaudeProvider } from './provider.ts';
export { SSEDecoder, type SSEMessageHandler, sseEvents } from './sse-events.ts';
export { buildParams } from './stream.ts';
export {
  estimateBlockTokens,
  estimateContentTokens,
  estimateMessageTokens,
  estimateTextTokens,
  estimateTokens,
  TOKEN_OVERHEADS,
} from './tokens.ts';
export type {
  BeforeSend,
  ClaudeChunk,
  ClaudeProvider,
  ClaudeProviderOptions,
  ClaudeUsage,
  CountTokensRequest,
  SendAdditions,
  StreamRequest,
  TranscriptContentBlock,
  TranscriptMessage,
} from './types.ts';

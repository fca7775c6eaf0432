import { randomBytes } from 'node:crypto';
import type { SimLogger } from './logger.ts';
import { silentLogger } from './logger.ts';

/** Options of {@link createSimulator} / {@link startSimulator}. Every field has a default. */
export interface SimulatorOptions {
  /** TCP port; 0 picks a free one. Default 0. */
  port?: number;
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** Delay before each streamed content delta, in ms. Default 5. */
  tokenDelayMs?: number;
  /** Reply length in words (one word per `text_delta`). Default 40. */
  replyWords?: number;
  /** Thinking length in words when thinking is enabled. Default 24. */
  thinkingWords?: number;
  /** Seed of the reply PRNG (with the last user message's text). Default `1`. */
  seed?: number | string;
  /** Key that thinking signatures are HMAC'd with. Default: 32 random bytes. */
  signingKey?: string;
  /** Context window: a request over this many input tokens is a 400 "prompt is too long". Default 200000. */
  contextLimitTokens?: number;
  /** Largest `max_tokens` accepted (400 above, with the real message). Default 128000. */
  maxOutputTokens?: number;
  /** Smallest prefix that prompt caching writes, in tokens (the real API: 1024 for most models). Default 1024. */
  minCacheableTokens?: number;
  /** Largest accepted request body in bytes (413 above). Default 32 MiB, like the real API. */
  maxRequestBytes?: number;
  /** When set, the only API key accepted; otherwise any non-empty key is. */
  apiKey?: string;
  /** How many requests `GET /__sim/requests` keeps. Default 1000. */
  requestLogSize?: number;
  /** Append every request (with its body) as a JSON line to this file when its response ends. Default: off. */
  requestJournal?: string;
  /** A pino logger (or anything with debug/info/warn/error). Default: silent. */
  logger?: SimLogger;
}

export type ResolvedSimulatorOptions = Required<Omit<SimulatorOptions, 'apiKey' | 'requestJournal'>> & {
  apiKey: string | undefined;
  requestJournal: string | undefined;
};

export function resolveOptions(options: SimulatorOptions = {}): ResolvedSimulatorOptions {
  return {
    port: options.port ?? 0,
    host: options.host ?? '127.0.0.1',
    tokenDelayMs: options.tokenDelayMs ?? 5,
    replyWords: options.replyWords ?? 40,
    thinkingWords: options.thinkingWords ?? 24,
    seed: options.seed ?? 1,
    signingKey: options.signingKey ?? randomBytes(32).toString('base64'),
    contextLimitTokens: options.contextLimitTokens ?? 200_000,
    maxOutputTokens: options.maxOutputTokens ?? 128_000,
    minCacheableTokens: options.minCacheableTokens ?? 1024,
    maxRequestBytes: options.maxRequestBytes ?? 32 * 1024 * 1024,
    apiKey: options.apiKey,
    requestLogSize: options.requestLogSize ?? 1000,
    requestJournal: options.requestJournal,
    logger: options.logger ?? silentLogger,
  };
}

import { parseEnvWith } from '@turnstream/config';
import { z } from 'zod';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

const envSchema = z.object({
  /** Port to listen on (0 = any free port). */
  SIM_PORT: z.coerce.number().int().min(0).max(65535).default(4100),
  /** Interface to listen on (`0.0.0.0` in a container). */
  SIM_HOST: z.string().min(1).default('127.0.0.1'),
  /** Delay before each streamed chunk, in ms. */
  SIM_TOKEN_DELAY_MS: z.coerce.number().int().min(0).default(5),
  /** Reply length in words. */
  SIM_REPLY_WORDS: z.coerce.number().int().min(1).default(40),
  /** Seed of the reply PRNG. */
  SIM_SEED: z.string().min(1).default('1'),
  /** Context window in tokens (400 "prompt is too long" above it). */
  SIM_CONTEXT_LIMIT: z.coerce.number().int().min(1).default(200_000),
  /** Smallest cacheable prefix in tokens. */
  SIM_MIN_CACHEABLE_TOKENS: z.coerce.number().int().min(0).default(1024),
  /** Thinking signing key (random when absent, so a restart invalidates stored signatures). */
  SIM_SIGNING_KEY: z.string().min(1).optional(),
  /** Append every request (with its body) as a JSON line to this file. */
  SIM_REQUEST_JOURNAL: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
});

export type SimEnv = z.infer<typeof envSchema>;

/** Parses the simulator's environment (empty strings count as unset). Throws on invalid values. */
export function parseEnv(source: Record<string, string | undefined>): SimEnv {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== ''));
  return parseEnvWith(envSchema, cleaned);
}

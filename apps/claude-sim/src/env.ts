import { parseEnvWith } from '@turnstream/config';
import { z } from 'zod';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);

/** The simulator's environment. */
export const simEnvSchema = z.object({
  SIM_PORT: z.coerce
    .number()
    .int()
    .min(0)
    .max(65535)
    .default(4100)
    .describe('Port to listen on (0 = any free port).'),
  SIM_HOST: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .describe('Interface to listen on (`0.0.0.0` in a container).'),
  SIM_TOKEN_DELAY_MS: int(5).describe('Delay before each streamed chunk, in ms.'),
  SIM_REPLY_WORDS: int(40, 1).describe('Reply length in words.'),
  SIM_SEED: z.string().min(1).default('1').describe('Seed of the reply PRNG.'),
  SIM_CONTEXT_LIMIT: int(200_000, 1).describe(
    'Context window in tokens (400 "prompt is too long" above it).',
  ),
  SIM_MAX_OUTPUT_TOKENS: int(128_000, 1).describe(
    'Largest `max_tokens` accepted, for every model (400 with the real message above it).',
  ),
  SIM_MIN_CACHEABLE_TOKENS: int(1024).describe('Smallest cacheable prefix in tokens.'),
  SIM_SIGNING_KEY: z
    .string()
    .min(1)
    .optional()
    .describe('Thinking signing key (random when absent, so a restart invalidates stored signatures).'),
  SIM_REQUEST_JOURNAL: z
    .string()
    .min(1)
    .optional()
    .describe('Append every request (with its body) as a JSON line to this file.'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info').describe('pino log level.'),
});

export type SimEnv = z.infer<typeof simEnvSchema>;

/** Parses the simulator's environment (empty strings count as unset). Throws on invalid values. */
export function parseEnv(source: Record<string, string | undefined>): SimEnv {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== ''));
  return parseEnvWith(simEnvSchema, cleaned);
}

import { optionalString, parseEnvWith } from '@turnstream/config';
import { z } from 'zod';

/**
 * `npm start`'s own settings (scripts/dev.ts). Everything else in the environment is passed on to the
 * processes it starts (see the API's and the worker's settings).
 */
export const launcherEnvSchema = z.object({
  DATABASE_URL: optionalString().meta({
    description: 'Postgres of the API and the worker.',
    docDefault: '`postgres://postgres@127.0.0.1:5432/turnstream`',
  }),
  REDIS_URL: optionalString().meta({
    description: 'Redis of the API and the worker.',
    docDefault: '`redis://127.0.0.1:6379`',
  }),
  PORT: z.coerce.number().int().min(0).max(65_535).default(3000).describe('Port of the API.'),
  SIM_PORT: z.coerce
    .number()
    .int()
    .min(0)
    .max(65_535)
    .default(4100)
    .describe('Port of the Claude simulator (started when `ANTHROPIC_API_KEY` is unset).'),
  SIM_TOKEN_DELAY_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(25)
    .describe("The simulator's delay per streamed chunk, in ms (slow enough to watch a reply stream in)."),
  ANTHROPIC_API_KEY: optionalString().meta({
    description: 'Use Claude with this key; unset: the simulator answers.',
    docDefault: 'unset',
  }),
  DEV_API_KEY: optionalString().describe(
    "The development tenant's admin key to use (kept across restarts); unset: a new key each start.",
  ),
  LOG_LEVEL: z.string().min(1).default('info').describe('Log level of the processes it starts.'),
});

export type LauncherEnv = z.infer<typeof launcherEnvSchema>;

export function parseLauncherEnv(source: Record<string, string | undefined>): LauncherEnv {
  return parseEnvWith(launcherEnvSchema, source);
}

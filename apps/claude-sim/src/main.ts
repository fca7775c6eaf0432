import { readEnvOrExit } from '@turnstream/config';
import { parseEnv } from './env.ts';
import { startSimulator } from './server.ts';
import { createStdoutLogger } from './stdout-logger.ts';

const env = readEnvOrExit('claude-sim', parseEnv);
const logger = createStdoutLogger(env.LOG_LEVEL);

const sim = await startSimulator({
  port: env.SIM_PORT,
  host: env.SIM_HOST,
  tokenDelayMs: env.SIM_TOKEN_DELAY_MS,
  replyWords: env.SIM_REPLY_WORDS,
  seed: env.SIM_SEED,
  contextLimitTokens: env.SIM_CONTEXT_LIMIT,
  maxOutputTokens: env.SIM_MAX_OUTPUT_TOKENS,
  minCacheableTokens: env.SIM_MIN_CACHEABLE_TOKENS,
  signingKey: env.SIM_SIGNING_KEY,
  requestJournal: env.SIM_REQUEST_JOURNAL,
  logger,
});
logger.info(
  { event: 'sim.listen_completed', url: sim.url, port: sim.port },
  `claude-sim listening on ${sim.url}`,
);

let stopping = false;
const stop = (signal: NodeJS.Signals) => {
  if (stopping) return;
  stopping = true;
  logger.info({ event: 'sim.shutdown_started', signal });
  sim.close().then(
    () => {
      logger.info({ event: 'sim.shutdown_completed' });
      process.exit(0);
    },
    (err: unknown) => {
      logger.error({ event: 'sim.shutdown_failed', err });
      process.exit(1);
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

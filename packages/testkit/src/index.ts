/**
 * @turnstream/testkit: what every test needs and nothing else (tests only; nothing in src/ of an app or
 * package imports it). It depends on no other workspace package.
 */
export {
  type AppName,
  READY_EVENT,
  REPO_ROOT,
  type StartedApp,
  spawnTsx,
  startApp,
  type TsxOptions,
} from './apps.ts';
export { freePort } from './ports.ts';
export { type Exit, type LogLine, ManagedProcess, type SpawnOptions, stopAll } from './process.ts';
export {
  chooseSeed,
  mulberry32,
  SEED_ENV,
  type SeededRandom,
  seededRandom,
  testRandom,
} from './random.ts';
export {
  type ClusterNodeProcess,
  RedisCluster,
  type RedisClusterOptions,
  type SlotOwner,
  startRedisCluster,
} from './redis-cluster.ts';
export { deleteKeys } from './redis-keys.ts';
export { RedisServer, type RedisServerOptions, startRedisServer } from './redis-server.ts';
export { recordUnhandledRejections, type UnhandledRejections } from './rejections.ts';
export { isEventFrame, parseSseFrame, parseSseText, readSseFrames, type SseFrame } from './sse-parse.ts';
export { type FollowOptions, followSse, SseReader, type SseReaderOptions } from './sse-reader.ts';
export {
  DEFAULT_WAIT_MS,
  eventually,
  sleepMs,
  type WaitOptions,
  WaitTimeoutError,
  waitFor,
  withTimeout,
} from './wait.ts';

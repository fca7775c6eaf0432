export { type CreateWorkerDeps, createWorker, DEFAULT_TURN_CONFIG, type TurnWorker } from './worker.ts';
export { parseEnv, type WorkerEnv } from './env.ts';
export { ConversationLeases, LeaseLostError, type Lease } from './lease.ts';
export type { WorkerMetrics } from './metrics.ts';

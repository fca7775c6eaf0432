export { parseEnv, type WorkerEnv, workerEnvSchema } from './env.ts';
export { ConversationLeases, type Lease, LeaseLostError } from './lease.ts';
export { ClaudeRateGate, claudeKeyId, gateProvider } from './rate-gate.ts';
export { type CreateWorkerDeps, createWorker, DEFAULT_TURN_CONFIG, type TurnWorker } from './worker.ts';

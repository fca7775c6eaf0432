export { parseEnv, type WorkerEnv, workerEnvSchema } from './env.ts';
export { type GateProviderOptions, gateProvider } from './gate-provider.ts';
export { ConversationLeases, type Lease, LeaseLostError } from './lease.ts';
export {
  ClaudeRateGate,
  claudeKeyId,
  type GateClosed,
  type GateOpened,
  type GateState,
} from './rate-gate.ts';
export { type CreateWorkerDeps, createWorker, DEFAULT_TURN_CONFIG, type TurnWorker } from './worker.ts';

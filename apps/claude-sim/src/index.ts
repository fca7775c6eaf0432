export type { ApiErrorType } from './api-error.ts';
export { parseEnv as parseSimEnv, type SimEnv, simEnvSchema } from './env.ts';
export type { ActiveFaultRule, FaultName, FaultRule } from './faults.ts';
export { MIDSTREAM_FAULTS, STATUS_FAULTS } from './faults.ts';
export type { SimLogger } from './logger.ts';
export type { SimulatorOptions } from './options.ts';
export { parseDirective, type ReplyDirective } from './reply.ts';
export type { LoggedRequest } from './request-log.ts';
export {
  createSimulator,
  type RunningSimulator,
  type Simulator,
  type SimulatorControls,
  startSimulator,
} from './server.ts';
export { countRequestTokens, countTextTokens } from './tokens.ts';

import { z } from 'zod';
import { envBoolean } from './parse.ts';

/**
 * The fleet settings: every API replica, worker and `TurnsClient` of one deployment must agree on them,
 * or jobs and events go where nobody looks. Each default is defined here, once.
 */
export const fleetSettingsShape = {
  REDIS_PREFIX: z
    .string()
    .min(1)
    .default('ts')
    .describe(
      "Prefix of Turnstream's own Redis keys: event logs, leases, fences, cancel flags, stream tokens.",
    ),
  BULL_PREFIX: z
    .string()
    .min(1)
    .default('bull')
    .describe(
      'BullMQ key prefix of the turns queue (`TurnsClient` option `prefix`). With `REDIS_CLUSTER_NODES` a prefix without a hash tag is wrapped in one (`{bull}`).',
    ),
  TURNS_QUEUE_NAME: z
    .string()
    .min(1)
    .default('turns')
    .describe('Name of the BullMQ queue turn jobs go through (`TurnsClient` option `queueName`).'),
  TURNS_INTAKE_QUEUE_NAME: z
    .string()
    .min(1)
    .default('turns-intake')
    .describe(
      'Name of the BullMQ queue where other services hand in messages (`TurnsClient` option `intakeQueueName`; docs/integration.md).',
    ),
  REDIS_SHARDED_PUBSUB: envBoolean
    .default(false)
    .describe('Publish live events with sharded pub/sub (`SPUBLISH`, Redis 7+) instead of `PUBLISH`.'),
};

export const fleetSettingsSchema = z.object(fleetSettingsShape);
export type FleetSettings = z.infer<typeof fleetSettingsSchema>;

/** The defaults of the fleet settings (what a process uses with none of them set). */
export const FLEET_DEFAULTS: Readonly<FleetSettings> = Object.freeze(fleetSettingsSchema.parse({}));

/** The fleet settings out of a parsed environment (which may hold much more). */
export function fleetSettingsOf(env: FleetSettings): FleetSettings {
  return {
    REDIS_PREFIX: env.REDIS_PREFIX,
    BULL_PREFIX: env.BULL_PREFIX,
    TURNS_QUEUE_NAME: env.TURNS_QUEUE_NAME,
    TURNS_INTAKE_QUEUE_NAME: env.TURNS_INTAKE_QUEUE_NAME,
    REDIS_SHARDED_PUBSUB: env.REDIS_SHARDED_PUBSUB,
  };
}

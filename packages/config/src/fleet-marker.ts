import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type FleetSettings, fleetSettingsSchema } from './fleet.ts';

/** Exit code of a process that refused to run because its fleet settings disagree with the fleet's. */
export const FLEET_MISMATCH_EXIT_CODE = 3;

/** How long a member counts without renewing; members renew every third of it. */
export const FLEET_MEMBER_TTL_MS = 30_000;

/** The Redis commands the marker needs (an ioredis client fits). */
export interface FleetRedis {
  eval(script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>;
}

/** The logger calls the marker makes (a pino logger fits). */
export interface FleetLogger {
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface FleetDifference {
  name: keyof FleetSettings;
  here: unknown;
  fleet: unknown;
}

export class FleetMismatchError extends Error {
  override name = 'FleetMismatchError';
  constructor(
    readonly differences: FleetDifference[],
    readonly members: number,
  ) {
    const list = differences
      .map((d) => `${d.name} is ${JSON.stringify(d.here)} here but ${JSON.stringify(d.fleet)} in the fleet`)
      .join('; ');
    super(
      `fleet settings disagree with the ${members} running process(es) of this deployment: ${list}. ` +
        'Give every API and worker the same fleet settings (docs/configuration.md), or stop the whole fleet to change them.',
    );
  }
}

// Joins (or renews) a member. The marker is taken over only when no other member is alive.
// KEYS: settings, members. ARGV: settings JSON, member id, ttl ms. Returns {joined, current, others}.
const JOIN_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local current = redis.call('GET', KEYS[1])
local others = redis.call('ZCARD', KEYS[2])
if redis.call('ZSCORE', KEYS[2], ARGV[2]) then others = others - 1 end
if current and current ~= ARGV[1] and others > 0 then
  return {0, current, others}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[2])
redis.call('PEXPIRE', KEYS[2], ttl)
return {1, current or '', others}
`;

// KEYS: settings, members. ARGV: member id. The last member to leave removes the marker.
const LEAVE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) == 0 then redis.call('DEL', KEYS[1], KEYS[2]) end
return 1
`;

/** The canonical form stored in the marker: every fleet setting, keys sorted. */
export function fleetMarkerValue(settings: FleetSettings): string {
  const parsed = fleetSettingsSchema.parse(settings);
  const sorted = Object.fromEntries(Object.entries(parsed).sort(([a], [b]) => a.localeCompare(b)));
  return JSON.stringify(sorted);
}

/** The fleet's marker keys, named after the deployment's identity (its database), not after any setting. */
export function fleetMarkerKeys(identity: string): { settings: string; members: string } {
  const id = createHash('sha256').update(identity).digest('hex').slice(0, 16);
  return { settings: `turnstream:fleet:{${id}}:settings`, members: `turnstream:fleet:{${id}}:members` };
}

export function fleetDifferences(here: FleetSettings, fleetValue: string): FleetDifference[] {
  let fleet: Record<string, unknown> = {};
  try {
    fleet = JSON.parse(fleetValue) as Record<string, unknown>;
  } catch {
    // an unreadable marker differs in every setting
  }
  return (Object.keys(here) as Array<keyof FleetSettings>)
    .filter((name) => fleet[name] !== here[name])
    .map((name) => ({ name, here: here[name], fleet: fleet[name] }));
}

export interface JoinFleetOptions {
  redis: FleetRedis;
  /** The deployment's identity: what every process of one fleet shares (the database, see `databaseIdentity`). */
  identity: () => Promise<string>;
  settings: FleetSettings;
  /** This process's member id (unique per process). */
  member: string;
  logger: FleetLogger;
  ttlMs?: number;
  /** Wait between attempts while Postgres or Redis cannot be reached. */
  retryMs?: number;
  /** Stops waiting (a shutdown during start-up). */
  signal?: AbortSignal;
}

export interface FleetMembership {
  keys: { settings: string; members: string };
  /** Stop renewing and leave (the last member out removes the marker). */
  leave(): Promise<void>;
}

type JoinReply = [number, string, number];

async function tryJoin(opts: JoinFleetOptions, keys: { settings: string; members: string }, ttlMs: number) {
  const value = fleetMarkerValue(opts.settings);
  const [joined, current, others] = (await opts.redis.eval(
    JOIN_SCRIPT,
    2,
    keys.settings,
    keys.members,
    value,
    opts.member,
    ttlMs,
  )) as JoinReply;
  if (joined === 1) return null;
  return new FleetMismatchError(fleetDifferences(fleetSettingsSchema.parse(opts.settings), current), others);
}

/**
 * Check this process's fleet settings against the fleet's marker in Redis and join the fleet: the
 * first process sets the marker, the others must match it. Waits (logging `fleet.check_waiting`) while
 * Postgres or Redis cannot be reached; throws {@link FleetMismatchError} when the settings disagree with
 * a live member's. Members renew every third of `ttlMs`; a fleet whose members all stopped (or died
 * `ttlMs` ago) can start again with other settings.
 */
export async function joinFleet(opts: JoinFleetOptions): Promise<FleetMembership> {
  const ttlMs = opts.ttlMs ?? FLEET_MEMBER_TTL_MS;
  let keys: { settings: string; members: string } | null = null;
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      keys ??= fleetMarkerKeys(await opts.identity());
      const mismatch = await tryJoin(opts, keys, ttlMs);
      if (mismatch) throw mismatch;
      break;
    } catch (err) {
      if (err instanceof FleetMismatchError) throw err;
      opts.logger.warn(
        { event: 'fleet.check_waiting', err: err instanceof Error ? err.message : String(err) },
        'waiting for Postgres and Redis to check the fleet settings',
      );
      await sleep(opts.retryMs ?? 1000, undefined, opts.signal ? { signal: opts.signal } : {}).catch(
        () => undefined,
      );
    }
  }
  const joinedKeys = keys;
  const renew = async () => {
    try {
      const mismatch = await tryJoin(opts, joinedKeys, ttlMs);
      if (mismatch)
        opts.logger.error(
          { event: 'fleet.settings_mismatch', differences: mismatch.differences },
          mismatch.message,
        );
    } catch (err) {
      opts.logger.warn({
        event: 'fleet.renew_failed',
        err: err instanceof Error ? err.message : String(err),
      });
    }
  };
  const timer = setInterval(() => void renew(), Math.max(10, Math.floor(ttlMs / 3)));
  timer.unref();
  return {
    keys: joinedKeys,
    async leave() {
      clearInterval(timer);
      await opts.redis.eval(LEAVE_SCRIPT, 2, joinedKeys.settings, joinedKeys.members, opts.member);
    },
  };
}

/**
 * {@link joinFleet} at an app's start: on a mismatch, print one structured line naming every differing
 * setting and exit with {@link FLEET_MISMATCH_EXIT_CODE}.
 */
export async function joinFleetOrExit(service: string, opts: JoinFleetOptions): Promise<FleetMembership> {
  try {
    return await joinFleet(opts);
  } catch (err) {
    if (!(err instanceof FleetMismatchError)) throw err;
    process.stderr.write(
      `${JSON.stringify({
        level: 60,
        service,
        event: 'config.fleet_mismatch',
        differences: err.differences,
        msg: err.message,
      })}\n`,
    );
    process.exit(FLEET_MISMATCH_EXIT_CODE);
  }
}

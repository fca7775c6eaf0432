import { createHash } from 'node:crypto';
import type { RedisClient } from '@turnstream/config';
import { DelayedError, type Job } from 'bullmq';
import { defineScript, type ScriptCall } from './redis-scripts.ts';

/**
 * Moves the gate's closing time forward only: a shorter wait never shortens a longer one. Returns the
 * time it stays closed and the server's clock when the script ran (`TIME`: seconds, microseconds).
 */
const CLOSE_SCRIPT = `
local now = redis.call('TIME')
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
  left = tonumber(ARGV[1])
end
return {left, now[1], now[2]}`;

/** The send check: the time left (PTTL) and the server's clock, read together. */
const CHECK_SCRIPT = `
local now = redis.call('TIME')
return {redis.call('PTTL', KEYS[1]), now[1], now[2]}`;

/** What closing the gate did: how long it stays closed, and when the close ran (the server's clock). */
export interface GateClosed {
  closedMs: number;
  /** Epoch microseconds on the gate's Redis clock when the close ran. */
  atUs: number;
}

/** One check of the gate: the milliseconds left (0: open), and when it ran (the server's clock). */
export interface GateState {
  remainingMs: number;
  /** Epoch microseconds on the gate's Redis clock when the check ran. */
  atUs: number;
}

/** The check that let a caller go (the gate open), and how long the caller waited before it. */
export interface GateOpened {
  waitedMs: number;
  /** Epoch microseconds on the gate's Redis clock when that check ran. */
  atUs: number;
}

/**
 * The fleet-wide gate in front of Claude for one API key: after a 429 no worker calls Claude with that
 * key until the wait the server asked for has passed. It is a Redis key whose TTL is the time left, so
 * it holds across worker processes and does not depend on their clocks.
 *
 * Its close and its check each also read the Redis server's clock (`TIME`, in the same script): the one
 * server holding the key runs them one at a time, so their times order them. A request's check stamped
 * after a close ran after it (`CLAUDE_GATE_CHECK_HEADER` sends that stamp with the request, for tests).
 */
export class ClaudeRateGate {
  readonly key: string;
  readonly #close: ScriptCall;
  readonly #check: ScriptCall;

  constructor(
    private readonly redis: RedisClient,
    opts: { redisPrefix: string; keyId: string },
  ) {
    this.key = `${opts.redisPrefix}:claude:rate-gate:${opts.keyId}`;
    this.#close = defineScript(redis, 'turnstreamRateGateClose', CLOSE_SCRIPT, 1);
    this.#check = defineScript(redis, 'turnstreamRateGateCheck', CHECK_SCRIPT, 1);
  }

  /** Close the gate for `ms` from now (or leave it closed longer). */
  async close(ms: number): Promise<GateClosed> {
    const wait = Math.max(1, Math.ceil(ms));
    const [closedMs, sec, usec] = (await this.#close(this.key, String(wait))) as [number, string, string];
    return { closedMs: Number(closedMs), atUs: microseconds(sec, usec) };
  }

  /** Milliseconds until the gate opens; 0 when it is open. */
  async remainingMs(): Promise<number> {
    return Math.max(0, await this.redis.pttl(this.key));
  }

  /** The time left and the server's clock, in one round trip. */
  async check(): Promise<GateState> {
    const [left, sec, usec] = (await this.#check(this.key)) as [number, string, string];
    return { remainingMs: Math.max(0, Number(left)), atUs: microseconds(sec, usec) };
  }

  /**
   * Resolve once the gate is open (it may close again meanwhile: checked again after each wait), with
   * the milliseconds it waited (0 when it found the gate open) and the check that found it open. Ends
   * early (an `AbortError`) when `signal` aborts, a Redis call too.
   */
  async waitOpen(signal?: AbortSignal): Promise<GateOpened> {
    let state = await abortable(this.check(), signal);
    const start = state.remainingMs > 0 ? Date.now() : undefined;
    while (state.remainingMs > 0) {
      await sleep(state.remainingMs, signal);
      state = await abortable(this.check(), signal);
    }
    const waitedMs = start === undefined ? 0 : Date.now() - start;
    return { waitedMs, atUs: state.atUs };
  }
}

/** Redis `TIME` (seconds, microseconds) as epoch microseconds (exact: below 2^53 until the year 2255). */
function microseconds(sec: string, usec: string): number {
  return Number(sec) * 1_000_000 + Number(usec);
}

/** An identifier of the API key (and endpoint) a gate is for, that reveals nothing of the key. */
export function claudeKeyId(apiKey: string, baseURL = ''): string {
  return createHash('sha256').update(`${baseURL}\n${apiKey}`).digest('hex').slice(0, 16);
}

/**
 * Put a turn's job back until the rate gate opens at `retryAt` (epoch ms), plus a little jitter so the
 * waiting turns do not all call at once (at most 20% of the wait, at most 1 s). A delayed job is not an
 * attempt: BullMQ does not count it against the job's attempts.
 */
export async function delayUntil(job: Job, token: string | undefined, retryAt: number): Promise<never> {
  const waitMs = Math.max(0, retryAt - Date.now());
  const jitter = Math.floor(Math.random() * Math.min(1_000, waitMs * 0.2));
  await job.moveToDelayed(retryAt + jitter, token);
  throw new DelayedError();
}

/** Sleep `ms`, ending early (with the signal's reason) when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted(signal));
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(timer);
      reject(aborted(signal));
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `promise`, or an `AbortError` as soon as `signal` aborts (a Redis call held while Redis is away). */
function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(aborted(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function aborted(signal: AbortSignal | undefined): Error {
  const err = new Error('aborted while waiting for the rate gate', { cause: signal?.reason });
  err.name = 'AbortError';
  return err;
}

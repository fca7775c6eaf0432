import { createHash } from 'node:crypto';
import {
  type ClaudeProvider,
  classifyClaudeError,
  claudeRequestIdOf,
  type StreamRequest,
} from '@turnstream/claude';
import type { RedisClient } from '@turnstream/config';
import type { Logger } from '@turnstream/logger';
import { DelayedError, type Job } from 'bullmq';
import { tapStream } from './tap-stream.ts';

/** Moves the gate's closing time forward only: a shorter wait never shortens a longer one. */
const CLOSE_SCRIPT = `
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
  return tonumber(ARGV[1])
end
return left`;

/**
 * The fleet-wide gate in front of Claude for one API key: after a 429 no worker calls Claude with that
 * key until the wait the server asked for has passed. It is a Redis key whose TTL is the time left, so
 * it holds across worker processes and does not depend on their clocks.
 */
export class ClaudeRateGate {
  readonly key: string;

  constructor(
    private readonly redis: RedisClient,
    opts: { redisPrefix: string; keyId: string },
  ) {
    this.key = `${opts.redisPrefix}:claude:rate-gate:${opts.keyId}`;
  }

  /** Close the gate for `ms` from now (or leave it closed longer). Returns the time it stays closed. */
  async close(ms: number): Promise<number> {
    const wait = Math.max(1, Math.ceil(ms));
    return Number(await this.redis.eval(CLOSE_SCRIPT, 1, this.key, String(wait)));
  }

  /** Milliseconds until the gate opens; 0 when it is open. */
  async remainingMs(): Promise<number> {
    return Math.max(0, await this.redis.pttl(this.key));
  }

  /**
   * Resolve once the gate is open (it may close again meanwhile: checked again after each wait), with
   * the milliseconds it waited (0 when it found the gate open). Ends early (an `AbortError`) when
   * `signal` aborts, a Redis call too.
   */
  async waitOpen(signal?: AbortSignal): Promise<number> {
    let left = await abortable(this.remainingMs(), signal);
    if (left === 0) return 0;
    const start = Date.now();
    while (left > 0) {
      await sleep(left, signal);
      left = await abortable(this.remainingMs(), signal);
    }
    return Date.now() - start;
  }
}

/** An identifier of the API key (and endpoint) a gate is for, that reveals nothing of the key. */
export function claudeKeyId(apiKey: string, baseURL = ''): string {
  return createHash('sha256').update(`${baseURL}\n${apiKey}`).digest('hex').slice(0, 16);
}

/**
 * The provider behind the gate: every call checks the gate right before its HTTP request leaves
 * (`beforeSend`), waiting there while it is closed — one check, on the request's own path, so an open
 * gate costs one Redis round trip and a 429 another call got a moment ago is still seen; a call
 * answered with a rate limit closes it for the wait the server asked for (`retry-after`, or the reset
 * headers) before the error reaches the turn. (A turn also meets the gate before it takes its lease.)
 */
export function gateProvider(provider: ClaudeProvider, gate: ClaudeRateGate, log: Logger): ClaudeProvider {
  const beforeSend = (signal: AbortSignal) => waitAtSend(gate, log, signal);
  return {
    countTokens: (req) => closeOnRateLimit(() => provider.countTokens({ ...req, beforeSend }), gate, log),
    stream: (req: StreamRequest) => gatedStream(provider, gate, log, { ...req, beforeSend }),
  };
}

/**
 * The last check before a request leaves: wait while the gate is closed (the call keeps its attempt:
 * it has not failed). Redis failing here lets the request go (it passed the gate a moment ago); only
 * an abort ends the call.
 */
async function waitAtSend(gate: ClaudeRateGate, log: Logger, signal: AbortSignal): Promise<void> {
  try {
    const waitedMs = await gate.waitOpen(signal);
    if (waitedMs > 0)
      log.info(
        { event: 'claude.send_held', waitedMs },
        'request held at the send until the rate gate opened',
      );
  } catch (err) {
    if (signal.aborted) throw err;
    log.warn({ event: 'claude.rate_gate_check_failed', err: String(err) }, 'could not check the rate gate');
  }
}

function gatedStream(provider: ClaudeProvider, gate: ClaudeRateGate, log: Logger, req: StreamRequest) {
  return tapStream(() => provider.stream(req), { error: (err) => noteRateLimit(err, gate, log) });
}

async function closeOnRateLimit<T>(call: () => Promise<T>, gate: ClaudeRateGate, log: Logger): Promise<T> {
  try {
    return await call();
  } catch (err) {
    await noteRateLimit(err, gate, log);
    throw err;
  }
}

async function noteRateLimit(err: unknown, gate: ClaudeRateGate, log: Logger): Promise<void> {
  const cls = classifyClaudeError(err);
  if (cls.kind !== 'rate_limited') return;
  try {
    const closedMs = await gate.close(cls.retryAfterMs);
    log.warn(
      {
        event: 'claude.rate_gate_closed',
        retryAfterMs: cls.retryAfterMs,
        closedMs,
        requestId: claudeRequestIdOf(err),
      },
      'Claude rate limit: every worker waits',
    );
  } catch (closeErr) {
    // Redis unreachable: this turn still waits (its job is rate limited), the others find out themselves.
    log.error(
      { event: 'claude.rate_gate_failed', err: String(closeErr), requestId: claudeRequestIdOf(err) },
      'could not close the rate gate',
    );
  }
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

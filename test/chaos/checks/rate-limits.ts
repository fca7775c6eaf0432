import { GLOBAL_RETRY_AFTER_MS } from '../faults.ts';
import { info, type Row, row } from '../table.ts';
import type { CheckInput } from './context.ts';

/**
 * Time a request that had passed its last gate check (right before it is sent) when the gate closed
 * may still take to reach the simulator: it was on its way, and a CPU-starved worker or simulator
 * stretches that.
 */
export const IN_FLIGHT_GRACE_MS = 500;

/** A worker killed this long after a 429 was answered, having logged no gate closed, died before closing it. */
const KILLED_BEFORE_CLOSE_MS = 2000;

/**
 * After a 429 with retry-after, the worker that got it closes the gate (its `claude.rate_gate_closed`
 * log); from then (plus the in-flight grace) no request reaches the simulator until the retry-after,
 * counted from the 429's answer, has passed. Every 429 closes the gate, unless its worker was killed
 * first or Redis was away (the worker logged it could not close the gate).
 */
export function rateLimitRows(input: CheckInput): Row[] {
  const retryAfter = new Map<string, number>();
  for (const o of input.messages) {
    for (const r of o.requests)
      if (o.sent.plan.fault?.retryAfterMs) retryAfter.set(r.requestId, o.sent.plan.fault.retryAfterMs);
  }
  const { requests, gate } = input.evidence;
  const limited = requests.filter((r) => r.status === 429);
  const early: string[] = [];
  const unclosed: string[] = [];
  const closeDelays: number[] = [];
  const inFlight: number[] = [];
  let killedFirst = 0;
  let redisAway = 0;
  for (const hit of limited) {
    const wait = Math.min(retryAfter.get(hit.requestId) ?? GLOBAL_RETRY_AFTER_MS, GLOBAL_RETRY_AFTER_MS);
    const answered = Date.parse(hit.endTime ?? hit.time);
    const until = answered + wait;
    const got = gate.limited.get(hit.requestId);
    if (got?.closedAt === undefined) {
      const killed = gate.kills.some(
        (k) =>
          (got ? k.worker === got.worker : true) &&
          k.at >= answered &&
          k.at <= answered + KILLED_BEFORE_CLOSE_MS,
      );
      if (killed) killedFirst++;
      else if (got?.closeFailed) redisAway++;
      else
        unclosed.push(
          `429 ${hit.requestId} answered ${hit.endTime} (${got ? `to ${got.worker}` : 'no worker logged it'})`,
        );
      continue;
    }
    const closedAt = got.closedAt;
    closeDelays.push(closedAt - answered);
    const after = requests.filter((r) => Date.parse(r.time) > closedAt && Date.parse(r.time) < until);
    for (const r of after) {
      const lag = Date.parse(r.time) - closedAt;
      if (lag <= IN_FLIGHT_GRACE_MS) inFlight.push(lag);
    }
    const inside = after.filter((r) => Date.parse(r.time) - closedAt > IN_FLIGHT_GRACE_MS);
    if (inside.length)
      early.push(
        `429 ${hit.requestId} (retry-after ${wait} ms) answered ${hit.endTime}, gate closed by ${got.worker} +${
          closedAt - answered
        } ms: then ${inside.map((r) => `${r.requestId} +${Date.parse(r.time) - answered} ms`).join(', ')}`,
      );
  }
  const max = (xs: number[]) => (xs.length ? `${Math.max(...xs)} ms` : '-');
  return [
    row(
      `429s that closed no gate (${limited.length} 429s; excused: worker killed first ${killedFirst}, Redis away ${redisAway})`,
      unclosed.length,
      0,
      unclosed,
    ),
    row(
      `requests inside a 429's retry-after, after the gate closed (${limited.length} 429s)`,
      early.length,
      0,
      early,
    ),
    info('429 answered -> gate closed (max)', max(closeDelays)),
    info(
      `requests on their way when the gate closed (within ${IN_FLIGHT_GRACE_MS} ms; max lag)`,
      `${inFlight.length} (${max(inFlight)})`,
    ),
    info('requests held at the send (the gate closed after they passed it)', gate.heldAtSend),
  ];
}

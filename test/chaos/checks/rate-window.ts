import type { GateCheck } from '@turnstream/claude';

/**
 * For requests that carry no gate check (a worker without `CLAUDE_GATE_CHECK_HEADER`): the time a
 * request that passed its last check before the gate closed may still take to reach the simulator. A
 * guess: a CPU-starved worker or simulator stretches it, and a request that went past a closed gate
 * within it is excused.
 */
export const IN_FLIGHT_GRACE_MS = 500;

/** A request as the simulator recorded it: when it arrived, and the gate check it carried, if any. */
export interface WindowRequest {
  requestId: string;
  /** ISO time it arrived. */
  time: string;
  gateCheck?: GateCheck | undefined;
}

/** One 429's gate close, and the wait it asked for. */
export interface GateClose {
  /** The gate's generation after the close (as the closing worker logged it); absent: judged by the grace. */
  generation?: number | undefined;
  /** When the closing worker logged the gate closed (epoch ms). */
  closedAt: number;
  /**
   * When the 429 arrived at the simulator (epoch ms; default `closedAt`): the close ran in Redis after
   * it, before `closedAt`. Requests arriving in between are judged by their gate check alone.
   */
  limitedAt?: number | undefined;
  /** The 429's answer plus its retry-after (epoch ms): no request may arrive before it. */
  until: number;
  /**
   * The earliest the gate could have opened (epoch ms; default `until`): the 429's arrival plus its
   * retry-after. The close came after the 429 was answered, so after it arrived; the simulator stamps the
   * answer once its response was handed over, which a starved simulator does late, after the worker may
   * already have closed the gate.
   */
  earliestOpen?: number | undefined;
}

/**
 * - `passed_closed_gate`: its check ran after the close and found the gate open before it could have
 *   opened (a violation).
 * - `in_flight`: its check ran before the close; it was on its way.
 * - `checked_after_wait`: its check ran after the close, once the gate could have opened, although the
 *   request arrived before `until` (the 429's answer stamped late, or the simulator's clock behind the
 *   worker's); not the gate's doing.
 * - `within_grace` / `past_grace`: no check to judge by; arrived within {@link IN_FLIGHT_GRACE_MS} of
 *   the close, or later (a violation).
 */
export type WindowVerdict =
  | 'passed_closed_gate'
  | 'in_flight'
  | 'checked_after_wait'
  | 'within_grace'
  | 'past_grace';

export interface JudgedRequest {
  requestId: string;
  verdict: WindowVerdict;
  /**
   * Its arrival after the close was logged, ms: negative for a request that arrived after the 429 but
   * before the closing worker's log line (judged only by a gate check).
   */
  afterCloseMs: number;
  /** Its arrival after its gate check, ms (how long it was on its way); absent without a check. */
  lagMs?: number;
}

/** Whether a verdict breaks the gate's guarantee. */
export function isViolation(verdict: WindowVerdict): boolean {
  return verdict === 'passed_closed_gate' || verdict === 'past_grace';
}

/**
 * Judge each request that arrived inside a 429's window, after the 429 arrived and before its wait
 * passed (`limitedAt < arrival < until`), by the gate check it carried. The close ran in Redis somewhere
 * between the 429's arrival and the closing worker's log line (`closedAt`); a request arriving in that
 * stretch is judged only when its check and the close's generation say which side of the close the check
 * ran on. Without them only arrivals after `closedAt` are judged (by the grace).
 *
 * The rule. Every close that moves the gate's closing time sets the gate and counts the generation up
 * in one script; the close's generation N is the one after it (its own, or, when the gate already
 * stayed closed longer, that of the close that set the longer time). A send check reads the time left
 * and the generation together, and a request leaves only on a check that found the gate open.
 * - generation < N: the check ran before close N (the counter only grows): the request passed an open
 *   gate and was on its way when it closed. Legitimate; `lagMs` says how long it took.
 * - generation >= N: the check ran after close N and found the gate open, so the key close N (or a
 *   later close) set was gone. Either it had expired — then the check ran no earlier than the close
 *   plus the wait, which is at or after `until` (the close came after the 429's answer) — or the gate
 *   did not hold (not set, lost, shortened). So the expiry came no earlier than `earliestOpen` (the
 *   close ran after the 429 arrived, and the worker closes for the retry-after it was sent, never less
 *   than the check's wait). The worker stamps `at` once Redis answered, so the check ran at or before
 *   `at`: `at < earliestOpen` proves the gate was found open before it could have opened, a violation.
 *   (A check in the last round trip before it may be stamped after it: missed, never a false violation.)
 *   This holds whenever the request arrived, before `closedAt` as well as after: the generation, not
 *   the arrival, places the check after the close.
 *   A later `at` on a request that still arrived before `until` is `checked_after_wait`: the 429's
 *   answer was stamped after the worker had closed the gate (a starved simulator), or the simulator's
 *   clock is behind the worker's. Not a violation.
 * - no check (or no generation logged for the close): the old rule, {@link IN_FLIGHT_GRACE_MS}, for
 *   arrivals after `closedAt`; an earlier arrival is not judged (it may have left before the close).
 *
 * It relies on the generation never going backwards while the gate can close: the counter has no TTL,
 * and the suite's Redis keeps its data across a crash (append-only file, fsync on every write).
 */
export function judgeWindow(
  close: GateClose,
  requests: WindowRequest[],
  graceMs = IN_FLIGHT_GRACE_MS,
): JudgedRequest[] {
  const judged: JudgedRequest[] = [];
  const from = Math.min(close.limitedAt ?? close.closedAt, close.closedAt);
  for (const r of requests) {
    const arrived = Date.parse(r.time);
    if (!(arrived > from && arrived < close.until)) continue;
    const afterCloseMs = arrived - close.closedAt;
    const check = r.gateCheck;
    if (!check || close.generation === undefined) {
      if (afterCloseMs <= 0) continue;
      const verdict = afterCloseMs <= graceMs ? 'within_grace' : 'past_grace';
      judged.push({ requestId: r.requestId, verdict, afterCloseMs });
      continue;
    }
    const verdict = verdictOf(check, close.generation, close.earliestOpen ?? close.until);
    judged.push({ requestId: r.requestId, verdict, afterCloseMs, lagMs: arrived - check.at });
  }
  return judged;
}

function verdictOf(check: GateCheck, generation: number, earliestOpen: number): WindowVerdict {
  if (check.generation < generation) return 'in_flight';
  return check.at < earliestOpen ? 'passed_closed_gate' : 'checked_after_wait';
}

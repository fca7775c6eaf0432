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
  /**
   * When the close ran, epoch microseconds on the gate's Redis clock (the closing worker logs it as
   * `closedAtUs`); absent: judged by the grace.
   */
  closedAtUs?: number | undefined;
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
 *   request arrived before `until` (the 429's answer stamped late); not the gate's doing.
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
 * stretch is judged only when its check and the close's Redis time say which side of the close the
 * check ran on. Without them only arrivals after `closedAt` are judged (by the grace).
 *
 * The rule. The close and every send check are scripts on the one Redis server holding the gate, each
 * reading that server's clock (`TIME`) as it runs; the server runs them one at a time, so a check stamped
 * after the close ran after it. A request leaves only on a check that found the gate open.
 * - check at or before the close (`atUs <= closedAtUs`): the request passed an open gate and was on its
 *   way when it closed. Legitimate; `lagMs` says how long it took. (A tie is counted here: never a
 *   false violation.)
 * - check after the close: it found the gate open, so the key the close set (or left closed longer) was
 *   gone. Either it had expired — then the check ran no earlier than the close plus the wait, and the
 *   close ran after the 429 arrived, so not before `earliestOpen` (the 429's arrival plus the
 *   retry-after; the worker closes for the retry-after it was sent, never less) — or the gate did not
 *   hold (not set, lost, shortened). So a check before `earliestOpen` found the gate open before it
 *   could have opened: a violation. This holds whenever the request arrived, before `closedAt` as well
 *   as after: the check's time, not the arrival, places it after the close.
 *   A check at or after `earliestOpen` on a request that still arrived before `until` is
 *   `checked_after_wait`: the 429's answer was stamped late (a starved simulator). Not a violation.
 * - no check (or no close time logged): the old rule, {@link IN_FLIGHT_GRACE_MS}, for arrivals after
 *   `closedAt`; an earlier arrival is not judged (it may have left before the close).
 *
 * The simulator's clock (arrivals, `earliestOpen`) and Redis's are the same host's in the suite.
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
    if (!check || close.closedAtUs === undefined) {
      if (afterCloseMs <= 0) continue;
      const verdict = afterCloseMs <= graceMs ? 'within_grace' : 'past_grace';
      judged.push({ requestId: r.requestId, verdict, afterCloseMs });
      continue;
    }
    const verdict = verdictOf(check.atUs, close.closedAtUs, close.earliestOpen ?? close.until);
    judged.push({
      requestId: r.requestId,
      verdict,
      afterCloseMs,
      lagMs: Math.round(arrived - check.atUs / 1000),
    });
  }
  return judged;
}

function verdictOf(checkedAtUs: number, closedAtUs: number, earliestOpen: number): WindowVerdict {
  if (checkedAtUs <= closedAtUs) return 'in_flight';
  return checkedAtUs / 1000 < earliestOpen ? 'passed_closed_gate' : 'checked_after_wait';
}

import type { GateCheck } from '@turnstream/claude';

/** One entry of `GET /__sim/requests`. */
export interface LoggedRequest {
  /** ISO time the request arrived. */
  time: string;
  requestId: string;
  model: string | null;
  stream: boolean;
  messageCount: number;
  /** Whether the request's messages carried thinking (or redacted thinking) blocks. */
  hasThinking: boolean;
  /**
   * The worker's last rate-gate check before it sent the request (its `x-turnstream-gate-check` header:
   * when it ran, epoch microseconds on the gate's Redis clock); absent when the request carried none.
   */
  gateCheck?: GateCheck;
  /** The fault applied to it, if any. */
  fault: string | null;
  /** HTTP status answered (200 for a stream, even when a midstream fault struck it). */
  status: number;
  /** The connection closed before the response was complete (client abort, idle watchdog, fault). */
  closedEarly: boolean;
  /** ISO time the response ended (the connection closed or the body was sent); absent while it runs. */
  endTime?: string;
  /**
   * The reply text the simulator planned for this request (deterministic in the seed and the last user
   * message); absent when it answered with an error before planning one.
   */
  reply?: string;
  /** With `?full=1` only: what was sent (kept for the most recent 200 requests). */
  body?: { system: unknown; messages: unknown };
}

/** Request bodies are kept for this many of the most recent entries only (bounded memory in benches). */
const BODIES_KEPT = 200;

/** The most recent requests to `POST /v1/messages` (oldest first, capped). */
export class RequestLog {
  #entries: LoggedRequest[] = [];
  readonly #capacity: number;

  constructor(capacity = 1000) {
    this.#capacity = capacity;
  }

  push(entry: LoggedRequest): void {
    this.#entries.push(entry);
    if (this.#entries.length > this.#capacity) this.#entries.shift();
    const stale = this.#entries[this.#entries.length - 1 - BODIES_KEPT];
    if (stale) delete stale.body;
  }

  list(full: boolean): LoggedRequest[] {
    return this.#entries.map((entry) => {
      if (full) return { ...entry };
      const { body: _body, ...summary } = entry;
      return summary;
    });
  }

  clear(): void {
    this.#entries = [];
  }
}

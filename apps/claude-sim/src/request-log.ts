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
  /** The fault applied to it, if any. */
  fault: string | null;
  /** HTTP status answered (200 for a stream, even when a midstream fault struck it). */
  status: number;
  /** With `?full=1` only: what was sent. */
  body?: { system: unknown; messages: unknown };
}

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

/**
 * Fires `onIdle` when armed for `timeoutMs` without being disarmed. The provider arms it while it
 * waits for the API (response start, next SSE event) and disarms it while the consumer handles a
 * chunk, so a slow consumer is never mistaken for a stalled stream. Armed and disarmed once per chunk:
 * one timer per stream, restarted (`refresh`) rather than a new one each time; `stop` clears it.
 */
export class IdleWatchdog {
  readonly #timeoutMs: number;
  readonly #onIdle: () => void;
  #timer: NodeJS.Timeout | undefined;
  #armed = false;
  #fired = false;

  constructor(timeoutMs: number, onIdle: () => void) {
    this.#timeoutMs = timeoutMs;
    this.#onIdle = onIdle;
  }

  get fired(): boolean {
    return this.#fired;
  }

  /** Start counting `timeoutMs` from now. */
  arm(): void {
    this.#armed = true;
    if (this.#timer) this.#timer.refresh();
    else this.#timer = setTimeout(() => this.#expire(), this.#timeoutMs);
  }

  /** Stop counting until the next `arm` (the timer may still run out: it then does nothing). */
  disarm(): void {
    this.#armed = false;
  }

  /** Disarm for good and clear the timer (the stream ended). */
  stop(): void {
    this.#armed = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #expire(): void {
    if (!this.#armed) return;
    this.#fired = true;
    this.#onIdle();
  }
}

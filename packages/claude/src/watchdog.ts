/**
 * Fires `onIdle` when armed for `timeoutMs` without being disarmed. The provider arms it while it
 * waits for the API (response start, next SSE event) and disarms it while the consumer handles a
 * chunk, so a slow consumer is never mistaken for a stalled stream.
 */
export class IdleWatchdog {
  readonly #timeoutMs: number;
  readonly #onIdle: () => void;
  #timer: NodeJS.Timeout | undefined;
  #fired = false;

  constructor(timeoutMs: number, onIdle: () => void) {
    this.#timeoutMs = timeoutMs;
    this.#onIdle = onIdle;
  }

  get fired(): boolean {
    return this.#fired;
  }

  arm(): void {
    this.disarm();
    this.#timer = setTimeout(() => {
      this.#fired = true;
      this.#onIdle();
    }, this.#timeoutMs);
  }

  disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

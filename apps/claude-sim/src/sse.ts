import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/** Writes server-sent events in the API's framing (`event: X\ndata: {json}\n\n`), with delays. */
export class SseWriter {
  readonly #res: ServerResponse;
  readonly #signal: AbortSignal;
  #lastWrite: Promise<void> = Promise.resolve();

  constructor(res: ServerResponse, signal: AbortSignal) {
    this.#res = res;
    this.#signal = signal;
  }

  open(headers: Record<string, string>): void {
    this.#res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    this.#res.flushHeaders();
  }

  async send(event: string, data: unknown): Promise<void> {
    this.#signal.throwIfAborted();
    let written!: () => void;
    this.#lastWrite = new Promise<void>((resolve) => {
      written = resolve;
    });
    if (this.#res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`, () => written())) return;
    await this.#untilClosedOr((done) => this.#res.once('drain', done));
  }

  /** Resolves once everything sent so far reached the socket (or the connection closed). */
  async flushed(): Promise<void> {
    await this.#untilClosedOr((done) => {
      this.#lastWrite.then(done);
    });
  }

  /** Waits `ms` (or a macrotask turn when 0); throws if the client went away. */
  async pause(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.#signal });
  }

  end(): void {
    this.#res.end();
  }

  /** Resolves when the connection closes (client abort or server shutdown); sends nothing until then. */
  async hang(): Promise<void> {
    await this.#untilClosedOr(() => {});
  }

  #untilClosedOr(arm: (done: () => void) => void): Promise<void> {
    if (this.#signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#signal.addEventListener('abort', () => resolve(), { once: true });
      arm(resolve);
    });
  }
}

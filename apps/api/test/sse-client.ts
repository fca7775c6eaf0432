export interface SseFrame {
  id?: string;
  event?: string;
  data?: string;
  /** Comment lines of the frame (heartbeats, shutdown notices). */
  comments: string[];
}

/** Parse one SSE frame (the text between blank lines). */
export function parseFrame(text: string): SseFrame {
  const frame: SseFrame = { comments: [] };
  const data: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith(':')) {
      frame.comments.push(line.slice(1).trim());
      continue;
    }
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'id') frame.id = value;
    else if (field === 'event') frame.event = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length) frame.data = data.join('\n');
  return frame;
}

/**
 * A fetch-based SSE reader for tests: `next()` returns the next event frame (comments are collected
 * in `comments`), `null` when the server ended the response.
 */
export class SseReader {
  readonly comments: string[] = [];
  readonly events: SseFrame[] = [];
  status = 0;
  headers: Headers | undefined;
  ended = false;
  private readonly controller = new AbortController();
  private reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  private buffer = '';
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly url: string,
    private readonly headersIn: Record<string, string> = {},
  ) {}

  /** Connect; resolves with the status once the response headers arrived. */
  async open(): Promise<number> {
    const res = await fetch(this.url, {
      headers: { accept: 'text/event-stream', ...this.headersIn },
      signal: this.controller.signal,
    });
    this.status = res.status;
    this.headers = res.headers;
    if (!res.body) throw new Error('no body');
    this.reader = res.body.getReader();
    return res.status;
  }

  /** The next event frame, or null at the end of the response. */
  async next(): Promise<SseFrame | null> {
    for (;;) {
      const idx = this.buffer.indexOf('\n\n');
      if (idx >= 0) {
        const frame = parseFrame(this.buffer.slice(0, idx));
        this.buffer = this.buffer.slice(idx + 2);
        this.comments.push(...frame.comments);
        if (frame.event !== undefined || frame.data !== undefined || frame.id !== undefined) {
          this.events.push(frame);
          return frame;
        }
        continue;
      }
      if (this.ended) return null;
      const { value, done } = await this.reader!.read();
      if (done) {
        this.ended = true;
        continue;
      }
      this.buffer += this.decoder.decode(value, { stream: true });
    }
  }

  /** Read `n` event frames (throws when the stream ends first). */
  async take(n: number): Promise<SseFrame[]> {
    const out: SseFrame[] = [];
    while (out.length < n) {
      const f = await this.next();
      if (!f) throw new Error(`stream ended after ${out.length} of ${n} events`);
      out.push(f);
    }
    return out;
  }

  /** Read to the end of the response. */
  async rest(): Promise<SseFrame[]> {
    const out: SseFrame[] = [];
    for (let f = await this.next(); f; f = await this.next()) out.push(f);
    return out;
  }

  /** Read raw chunks until `predicate` holds for the collected comments (e.g. a heartbeat arrived). */
  async waitForComment(predicate: (c: string) => boolean): Promise<void> {
    while (!this.comments.some(predicate)) {
      const idx = this.buffer.indexOf('\n\n');
      if (idx < 0) {
        if (this.ended) throw new Error('stream ended');
        const { value, done } = await this.reader!.read();
        if (done) {
          this.ended = true;
          continue;
        }
        this.buffer += this.decoder.decode(value, { stream: true });
        continue;
      }
      const frame = parseFrame(this.buffer.slice(0, idx));
      this.buffer = this.buffer.slice(idx + 2);
      this.comments.push(...frame.comments);
      if (frame.event !== undefined || frame.data !== undefined) this.events.push(frame);
    }
  }

  close(): void {
    this.controller.abort();
  }
}

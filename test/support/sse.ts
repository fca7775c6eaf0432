export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/**
 * A minimal SSE client over fetch: yields parsed events; `abort()` drops the connection.
 * Comment lines (heartbeats) are counted, not yielded.
 */
export class SseClient {
  private readonly controller = new AbortController();
  heartbeats = 0;
  status = 0;

  constructor(
    private readonly url: string,
    private readonly headers: Record<string, string> = {},
  ) {}

  abort(): void {
    this.controller.abort();
  }

  async *events(): AsyncGenerator<SseEvent> {
    const res = await fetch(this.url, {
      headers: { accept: 'text/event-stream', ...this.headers },
      signal: this.controller.signal,
    });
    this.status = res.status;
    if (!res.ok || !res.body) throw new Error(`SSE ${this.url} answered ${res.status}: ${await res.text()}`);
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(part, { stream: true });
        let idx = buffer.indexOf('\n\n');
        while (idx >= 0) {
          const frame = buffer.slice(0, idx);
          buffer = buffer.slice(idx + 2);
          const ev = parseFrame(frame);
          if (ev) yield ev;
          else this.heartbeats++;
          idx = buffer.indexOf('\n\n');
        }
      }
    } catch (err) {
      if (this.controller.signal.aborted) return;
      throw err;
    }
  }
}

function parseFrame(frame: string): SseEvent | null {
  const ev: SseEvent = { data: '' };
  const data: string[] = [];
  let any = false;
  for (const line of frame.split('\n')) {
    if (line.startsWith(':') || line === '') continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    any = true;
    if (field === 'id') ev.id = value;
    else if (field === 'event') ev.event = value;
    else if (field === 'data') data.push(value);
  }
  if (!any) return null;
  ev.data = data.join('\n');
  return ev;
}

/** Server-Sent Events framing (the WHATWG event-stream format), for reading streams in tests. */

export interface SseFrame {
  id?: string;
  event?: string;
  data?: string;
  retry?: number;
  /** Comment lines of the frame (`: heartbeat`), without the colon. */
  comments: string[];
}

/** Parse one frame (the text between blank lines). */
export function parseSseFrame(text: string): SseFrame {
  const frame: SseFrame = { comments: [] };
  const data: string[] = [];
  for (const line of text.split(/\r?\n/)) {
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
    else if (field === 'retry' && /^\d+$/.test(value)) frame.retry = Number(value);
  }
  if (data.length) frame.data = data.join('\n');
  return frame;
}

/** True when the frame dispatches an event (it has a field beyond comments). */
export function isEventFrame(frame: SseFrame): boolean {
  return frame.event !== undefined || frame.data !== undefined || frame.id !== undefined;
}

/** Split a complete body into frames (comment-only frames included). */
export function parseSseText(body: string): SseFrame[] {
  return body
    .split(/\r?\n\r?\n/)
    .filter((part) => part.trim().length > 0)
    .map(parseSseFrame);
}

/** The frames of a streamed body as they arrive (comment-only frames included). */
export async function* readSseFrames(body: ReadableStream<Uint8Array>): AsyncGenerator<SseFrame> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const part of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(part, { stream: true }).replace(/\r\n/g, '\n');
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const text = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (text.trim().length > 0) yield parseSseFrame(text);
      end = buffer.indexOf('\n\n');
    }
  }
}

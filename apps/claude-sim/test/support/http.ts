/** Test helpers: raw HTTP against the simulator (no SDK), its SSE read as events. */
import { isEventFrame, parseSseText, readSseFrames, type SseFrame } from '@turnstream/testkit';

export interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/** Parses a complete SSE body into events (`event:` + JSON `data:`). */
export function parseSse(body: string): SseEvent[] {
  return parseSseText(body).filter(isEventFrame).map(toEvent);
}

function toEvent(frame: SseFrame): SseEvent {
  return { event: frame.event ?? '', data: JSON.parse(frame.data ?? '{}') as Record<string, unknown> };
}

export const API_HEADERS = {
  'x-api-key': 'sk-test',
  'anthropic-version': '2023-06-01',
  'content-type': 'application/json',
};

/** POST /v1/messages with a JSON body. */
export function postMessages(baseUrl: string, body: unknown, headers: Record<string, string> = API_HEADERS) {
  return fetch(`${baseUrl}/v1/messages`, { method: 'POST', headers, body: JSON.stringify(body) });
}

/** A minimal valid request body. */
export function request(text: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model: 'claude-sonnet-4-6',
    max_tokens: 4096,
    messages: [{ role: 'user', content: text }],
    ...extra,
  };
}

/** Reads a streamed body event by event, so a test can stop (or observe a stall) midway. */
export async function* readSse(res: Response): AsyncGenerator<SseEvent> {
  if (!res.body) return;
  for await (const frame of readSseFrames(res.body)) if (isEventFrame(frame)) yield toEvent(frame);
}

/** Text of the text deltas of parsed events. */
export function textOf(events: SseEvent[]): string {
  return events
    .filter((e) => e.event === 'content_block_delta')
    .map((e) => e.data.delta as { type: string; text?: string })
    .filter((d) => d.type === 'text_delta')
    .map((d) => d.text)
    .join('');
}

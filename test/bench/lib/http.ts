import http from 'node:http';

/** Long-lived streams: one socket each, no pooling limit. */
export const streamAgent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
/** Requests (POSTs): reused sockets. */
export const requestAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });

export interface JsonResponse {
  status: number;
  body: unknown;
}

/** A JSON request over node:http (lighter than fetch, so the client costs less CPU). */
export function requestJson(
  url: string,
  method: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      url,
      {
        method,
        agent: requestAgent,
        headers: {
          ...headers,
          ...(payload !== undefined
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {}
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export interface SseFrame {
  id: string | undefined;
  event: string | undefined;
  data: string;
}

export interface SseStream {
  close(): void;
  /** Resolves when the stream ends (server end, error or close). */
  ended: Promise<void>;
}

/**
 * Opens an SSE stream; resolves once the response started and its first bytes arrived (the API and
 * the relays write a comment at once). `onFrame` gets every event frame (comments are skipped).
 */
export function openSse(
  url: string,
  headers: Record<string, string>,
  onFrame: (frame: SseFrame) => void,
): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    let endResolve!: () => void;
    const ended = new Promise<void>((r) => {
      endResolve = r;
    });
    let opened = false;
    const req = http.get(
      url,
      { agent: streamAgent, headers: { accept: 'text/event-stream', ...headers } },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`SSE ${url} answered ${res.statusCode}`));
          return;
        }
        res.setEncoding('utf8');
        let buffer = '';
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let at = buffer.indexOf('\n\n');
          while (at >= 0) {
            const frame = buffer.slice(0, at);
            buffer = buffer.slice(at + 2);
            if (frame.charCodeAt(0) !== 58 /* ':' */) onFrame(parseFrame(frame));
            at = buffer.indexOf('\n\n');
          }
          if (!opened) {
            opened = true;
            resolve({ close: () => req.destroy(), ended });
          }
        });
        res.on('end', endResolve);
        res.on('close', endResolve);
        res.on('error', endResolve);
      },
    );
    req.on('error', (err) => {
      endResolve();
      if (!opened) reject(err);
    });
  });
}

function parseFrame(frame: string): SseFrame {
  let id: string | undefined;
  let event: string | undefined;
  let data = '';
  for (const line of frame.split('\n')) {
    if (line.startsWith('id: ')) id = line.slice(4);
    else if (line.startsWith('event: ')) event = line.slice(7);
    else if (line.startsWith('data: ')) data = data ? `${data}\n${line.slice(6)}` : line.slice(6);
  }
  return { id, event, data };
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

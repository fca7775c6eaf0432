/** Many SSE clients counting the frames they receive (the delivery scenarios' receiving side). */
import { performance } from 'node:perf_hooks';
import { serveDriver } from '../lib/driver.ts';
import { mapLimit, openSse, type SseStream } from '../lib/http.ts';
import { type FollowedSse, followSse } from '../lib/sse-follow.ts';

const now = () => performance.timeOrigin + performance.now();
let streams: FollowedSse[] = [];
let counts: number[] = [];
let firstAt = 0;
let lastAt = 0;
let onFrame: (() => void) | null = null;

serveDriver({
  /**
   * Open one stream per URL; resolves once every one is open. A stream that ends with `stream.error` is
   * resumed with Last-Event-ID (that frame is not counted); a plain end is not (the relays end theirs).
   */
  async connect(p: { urls: string[]; headers: Record<string, string> }) {
    counts = p.urls.map(() => 0);
    firstAt = 0;
    lastAt = 0;
    streams = await mapLimit(p.urls, 32, (url, i) =>
      followSse(
        url,
        p.headers,
        () => {
          const t = now();
          if (firstAt === 0) firstAt = t;
          lastAt = t;
          counts[i]!++;
          onFrame?.();
        },
        { resumeOnDrop: false },
      ),
    );
    return streams.length;
  },

  /** Resolves when every client received `perClient` frames, or after `deadlineMs`. */
  async collect(p: { perClient: number; deadlineMs: number }) {
    const complete = () => counts.every((c) => c >= p.perClient);
    if (!complete()) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, p.deadlineMs);
        onFrame = () => {
          if (complete()) {
            clearTimeout(timer);
            resolve();
          }
        };
      });
    }
    onFrame = null;
    const delivered = counts.reduce((s, c) => s + c, 0);
    for (const s of streams) s.close();
    streams = [];
    return { delivered, expected: p.perClient * counts.length, firstAt, lastAt };
  },

  /** One resume: open `url`, resolve when `frames` frames arrived (ms from the request). */
  async resumeOnce(p: { url: string; headers: Record<string, string>; frames: number; deadlineMs: number }) {
    const t0 = performance.now();
    let got = 0;
    let firstMs = 0;
    let stream: SseStream | undefined;
    let finished = false;
    const ms = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), p.deadlineMs);
      openSse(p.url, p.headers, () => {
        if (++got === 1) firstMs = performance.now() - t0;
        if (got === p.frames) {
          clearTimeout(timer);
          resolve(performance.now() - t0);
        }
      }).then(
        (s) => {
          stream = s;
          if (finished) s.close();
        },
        () => resolve(null),
      );
    });
    finished = true;
    stream?.close();
    return { ms: ms === null ? null : Math.round(ms * 10) / 10, firstMs: Math.round(firstMs * 10) / 10, got };
  },
});

/**
 * Turnstream as a user sees it: one SSE stream per conversation (opened before the message is
 * posted, as a chat client holds it), then POST /messages; times are taken on this side.
 */
import { performance } from 'node:perf_hooks';
import { serveDriver } from '../lib/driver.ts';
import { mapLimit, requestJson, type SseFrame } from '../lib/http.ts';
import { type FollowedSse, followSse } from '../lib/sse-follow.ts';
import { type TurnRecord, TurnRecorder, type TurnRunSummary } from '../lib/turns.ts';

let apiUrl = '';
let auth: Record<string, string> = {};

interface Watch {
  stream: FollowedSse;
  rec: TurnRecord | null;
  recorder: TurnRecorder;
  onEnd: (() => void) | null;
}

function handleFrame(w: Watch, frame: SseFrame): void {
  const rec = w.rec;
  if (!rec) return;
  const now = performance.now();
  switch (frame.event) {
    case 'chunk':
      w.recorder.chunk(rec, now);
      return;
    case 'turn.started':
      rec.started ??= now;
      return;
    case 'turn.reset':
      w.recorder.resets++;
      return;
    case 'turn.retrying':
      w.recorder.retries++;
      return;
    case 'turn.completed':
      w.recorder.finish(rec, 'completed', now);
      break;
    case 'turn.cancelled':
      w.recorder.finish(rec, 'cancelled', now);
      break;
    case 'turn.failed': {
      const data = JSON.parse(frame.data) as { code: string };
      w.recorder.finish(rec, `failed:${data.code}`, now);
      break;
    }
    case 'stream.overflow':
      w.recorder.finish(rec, 'overflow', now);
      break;
    default:
      return;
  }
  w.onEnd?.();
}

async function watch(conversationId: string, recorder: TurnRecorder): Promise<Watch> {
  const w: Watch = { stream: null as unknown as FollowedSse, rec: null, recorder, onEnd: null };
  // A stream.error or a drop is resumed after the last event received, as a chat client does.
  w.stream = await followSse(
    `${apiUrl}/v1/conversations/${conversationId}/events`,
    auth,
    (f) => handleFrame(w, f),
    { onResume: () => recorder.resumes++ },
  );
  return w;
}

async function post(conversationId: string, content: string, rec: TurnRecord, w: Watch): Promise<void> {
  const res = await requestJson(
    `${apiUrl}/v1/conversations/${conversationId}/messages`,
    'POST',
    { content },
    auth,
  ).catch((err: Error) => ({ status: 0, body: err.message }));
  rec.postDone = performance.now();
  if (res.status !== 202) {
    w.recorder.finish(rec, `post_${res.status}`, rec.postDone);
    w.onEnd?.();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

serveDriver({
  init(p: { apiUrl: string; apiKey: string }) {
    apiUrl = p.apiUrl;
    auth = { authorization: `Bearer ${p.apiKey}` };
  },

  /**
   * Held streams: one message per conversation, posts spread evenly over `spreadMs`; waits for every
   * turn to end, or `deadlineMs`.
   */
  async held(p: {
    conversationIds: string[];
    contents: string[];
    spreadMs: number;
    deadlineMs: number;
  }): Promise<TurnRunSummary> {
    const recorder = new TurnRecorder();
    const watches = await mapLimit(p.conversationIds, 64, (id) => watch(id, recorder));
    let open = watches.length;
    let allDone!: () => void;
    const done = new Promise<void>((r) => {
      allDone = r;
    });
    const start = performance.now();
    const step = p.conversationIds.length > 1 ? p.spreadMs / (p.conversationIds.length - 1) : 0;
    const posts: Promise<void>[] = [];
    for (let i = 0; i < watches.length; i++) {
      const due = start + i * step - performance.now();
      if (due > 1) await sleep(due);
      const w = watches[i]!;
      const rec = recorder.begin(performance.now());
      w.rec = rec;
      w.onEnd = () => {
        w.onEnd = null;
        if (--open === 0) allDone();
      };
      posts.push(post(p.conversationIds[i]!, p.contents[i]!, rec, w));
    }
    await Promise.race([done, sleep(p.deadlineMs)]);
    await Promise.all(posts);
    for (const w of watches) w.stream.close();
    return recorder.summary();
  },

  /**
   * Closed loop: `concurrency` clients, each following a fresh conversation (SSE open, then POST,
   * then wait for its end), until `durationMs` has passed (turns in flight then are waited for).
   */
  async loop(p: {
    conversationIds: string[];
    contents: string[];
    concurrency: number;
    durationMs: number;
    turnTimeoutMs: number;
  }): Promise<TurnRunSummary & { exhausted: boolean }> {
    const recorder = new TurnRecorder();
    let next = 0;
    let exhausted = false;
    const stopAt = performance.now() + p.durationMs;
    await Promise.all(
      Array.from({ length: p.concurrency }, async () => {
        while (performance.now() < stopAt) {
          const i = next++;
          if (i >= p.conversationIds.length) {
            exhausted = true;
            return;
          }
          const w = await watch(p.conversationIds[i]!, recorder);
          const ended = new Promise<void>((r) => {
            w.onEnd = r;
          });
          const rec = recorder.begin(performance.now());
          w.rec = rec;
          await post(p.conversationIds[i]!, p.contents[i]!, rec, w);
          await Promise.race([ended, sleep(p.turnTimeoutMs)]);
          w.stream.close();
        }
      }),
    );
    return { ...recorder.summary(), exhausted };
  },
});

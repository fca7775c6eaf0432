/**
 * The baselines' API side: an HTTP server forwarding chunk frames to SSE clients, either from raw
 * Redis pub/sub (one subscriber connection, one channel per conversation) or by resuming a
 * `resumable-stream` (what an app using that package does on a second server).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { createResumableStreamContext, type ResumableStreamContext } from 'resumable-stream/ioredis';
import { serveDriver } from '../lib/driver.ts';

type Mode = 'raw' | 'resumable';

let server: http.Server | undefined;
let redis: Redis;
let subscriber: Redis;
let resumable: ResumableStreamContext;
const clients = new Map<string, Set<http.ServerResponse>>();

const HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
};

async function rawClient(id: string, res: http.ServerResponse): Promise<void> {
  const channel = `bench:raw:${id}`;
  let set = clients.get(channel);
  if (!set) {
    set = new Set();
    clients.set(channel, set);
    await subscriber.subscribe(channel);
  }
  set.add(res);
  res.on('close', () => set.delete(res));
  res.writeHead(200, HEADERS);
  res.write(': connected\n\n');
}

async function resumableClient(id: string, res: http.ServerResponse, skip: number): Promise<void> {
  const stream = await resumable.resumeExistingStream(id, skip);
  if (!stream) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, HEADERS);
  res.write(': connected\n\n');
  const reader = stream.getReader();
  res.on('close', () => void reader.cancel().catch(() => undefined));
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!res.write(value)) await new Promise((r) => res.once('drain', r));
  }
  res.end();
}

serveDriver(
  {
    async start(p: { mode: Mode; redisUrl: string; keyPrefix: string }) {
      redis = new Redis(p.redisUrl);
      subscriber = redis.duplicate();
      if (p.mode === 'raw') {
        subscriber.on('message', (channel: string, message: string) => {
          for (const res of clients.get(channel) ?? []) res.write(message);
        });
      } else {
        resumable = createResumableStreamContext({
          waitUntil: null,
          publisher: redis,
          subscriber,
          keyPrefix: p.keyPrefix,
        });
      }
      server = http.createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://relay');
        const id = url.pathname.split('/')[2] ?? '';
        const skip = Number(url.searchParams.get('skip') ?? 0);
        const serve = p.mode === 'raw' ? rawClient(id, res) : resumableClient(id, res, skip);
        serve.catch((err: Error) => {
          if (!res.headersSent) res.writeHead(500);
          res.end(String(err));
        });
      });
      await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
      return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
    },
  },
  async () => {
    server?.closeAllConnections();
    server?.close();
    subscriber?.disconnect();
    redis?.disconnect();
  },
);

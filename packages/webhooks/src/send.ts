import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { guardedLookup, hostOf, refusedAddress, type TargetPolicy, TargetRefusedError } from './targets.ts';

export interface SendResult {
  outcome: 'succeeded' | 'failed' | 'refused';
  statusCode: number | null;
  /** Why it failed (never the receiver's body). */
  error: string | null;
  durationMs: number;
}

/** Receivers' bodies are read (to free the connection) up to this much, and dropped. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * POST `body` to `url` with `headers`: 2xx is success; any other status, a redirect, a timeout
 * (`timeoutMs` for the whole exchange) or a connection error is a failure; a target whose address
 * is not allowed is refused before any byte is sent.
 */
export function sendWebhook(
  url: string,
  body: string,
  headers: Record<string, string>,
  opts: { policy: TargetPolicy; timeoutMs: number },
): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const target = new URL(url);
  const host = hostOf(target);
  if (isIP(host)) {
    const why = refusedAddress(host, opts.policy);
    if (why) return Promise.resolve({ outcome: 'refused', statusCode: null, error: why, durationMs: 0 });
  }
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: Omit<SendResult, 'durationMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...result, durationMs: elapsed() });
    };
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(target, {
      method: 'POST',
      headers: {
        ...headers,
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        'user-agent': 'Turnstream-Webhooks/1',
      },
      lookup: guardedLookup(opts.policy),
      agent: false,
    });
    const timer = setTimeout(() => {
      finish({ outcome: 'failed', statusCode: null, error: `no response within ${opts.timeoutMs} ms` });
      req.destroy();
    }, opts.timeoutMs);
    req.on('error', (err) => {
      if (err instanceof TargetRefusedError)
        finish({ outcome: 'refused', statusCode: null, error: err.message });
      else finish({ outcome: 'failed', statusCode: null, error: `${err.name}: ${err.message}` });
    });
    req.on('response', (res: IncomingMessage) => {
      // The status decides; the body is drained (bounded) and dropped.
      const status = res.statusCode ?? 0;
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > MAX_RESPONSE_BYTES) res.destroy();
      });
      res.on('error', () => {});
      if (status >= 200 && status < 300) finish({ outcome: 'succeeded', statusCode: status, error: null });
      else finish({ outcome: 'failed', statusCode: status, error: `HTTP ${status}` });
    });
    req.end(body);
  });
}

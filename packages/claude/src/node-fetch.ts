import http from 'node:http';
import https from 'node:https';
import { pipeline, type Readable } from 'node:stream';
import zlib from 'node:zlib';

/**
 * A `fetch` for the Anthropic SDK on node:http / node:https, without undici's fetch and WHATWG streams.
 *
 * The SDK reads a streamed reply by async-iterating `response.body`, and iterates a body that has
 * `Symbol.asyncIterator` directly: a Node Readable (the `IncomingMessage`) is read without any web
 * stream in between. Profiles of a worker holding hundreds of slow streams showed undici's fetch and
 * web streams as its largest cost per SSE chunk.
 *
 * What the SDK relies on, kept as the platform fetch does it:
 * - a failure before the response rejects with the socket error (`ECONNREFUSED`, `ECONNRESET`
 *   "socket hang up", ...): the SDK wraps it in `APIConnectionError`;
 * - `init.signal` aborting, before or after the response started, fails with an `AbortError`
 *   (`signal.reason`): the SDK maps it to `APIUserAbortError` / `APIConnectionTimeoutError` and ends
 *   a stream's iteration quietly; the socket is destroyed, never handed back to the pool;
 * - a connection that breaks mid-body fails the body's iteration with a non-abort error
 *   (`ECONNRESET` "aborted");
 * - `status`, `ok`, `headers` (a `Headers`), `url`, `text()`, `json()` for error and JSON bodies.
 *
 * It asks for `accept-encoding: identity` (unless the caller set the header): the hot path is SSE,
 * where decompression would cost CPU per chunk for little saving. A body that comes compressed anyway
 * (a proxy) is decompressed (gzip, deflate, br), as the platform fetch does. Redirects are not
 * followed (the Messages API does not redirect). Bodies other than strings and bytes (streams, Blob,
 * FormData) and `Request` inputs go to the platform fetch.
 */
export type NodeFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/**
 * Sockets are kept alive between requests (`keepAlive`), with no cap on sockets per host (a held
 * stream owns its socket for minutes: a cap would queue streams behind it). An idle socket is closed
 * after 4 s, or a second before the server's `Keep-Alive: timeout=` hint when that is shorter, so a
 * request rarely goes out on a socket the server is closing (undici's defaults: 4 s, 1 s margin).
 * The timeout only applies to free sockets (each request turns it off while it owns the socket).
 */
export const NODE_AGENT_OPTIONS = {
  keepAlive: true,
  keepAliveMsecs: 1000,
  maxSockets: Number.POSITIVE_INFINITY,
  maxFreeSockets: 256,
  timeout: 4000,
  scheduling: 'lifo',
} as const satisfies http.AgentOptions;

export interface NodeFetchAgents {
  http: http.Agent;
  https: https.Agent;
}

export function createNodeAgents(): NodeFetchAgents {
  return { http: new http.Agent(NODE_AGENT_OPTIONS), https: new https.Agent(NODE_AGENT_OPTIONS) };
}

/** A fetch over `agents` (one pair per provider by default). */
export function createNodeFetch(agents: NodeFetchAgents = createNodeAgents()): NodeFetch {
  return (input, init = {}) => {
    const body = requestBody(init.body);
    if (body === unsupported || !(typeof input === 'string' || input instanceof URL)) {
      return fetch(input, init);
    }
    return request(new URL(input), init, body, agents);
  };
}

const unsupported = Symbol('unsupported body');

function requestBody(body: RequestInit['body']): Buffer | string | undefined | typeof unsupported {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return unsupported;
}

function requestHeaders(init: RequestInit, body: Buffer | string | undefined): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of new Headers(init.headers)) out[name] = value;
  if (body !== undefined) out['content-length'] = Buffer.byteLength(body);
  out['accept-encoding'] ??= 'identity';
  return out;
}

function request(
  url: URL,
  init: RequestInit,
  body: Buffer | string | undefined,
  agents: NodeFetchAgents,
): Promise<Response> {
  const signal = init.signal ?? undefined;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const secure = url.protocol === 'https:';
  if (!secure && url.protocol !== 'http:') {
    return Promise.reject(new TypeError(`fetch: unsupported protocol ${url.protocol}`));
  }
  const method = (init.method ?? 'GET').toUpperCase();

  return new Promise<Response>((resolve, reject) => {
    let settled = false;
    let response: http.IncomingMessage | undefined;
    let responseBody: Readable | null = null;
    const req = (secure ? https : http).request(url, {
      method,
      headers: requestHeaders(init, body),
      agent: secure ? agents.https : agents.http,
      // No socket timeout while the request owns the socket (the agent's applies again once it is
      // free): a timer refreshed on every chunk read costs CPU, and a quiet stream is the idle
      // watchdog's business.
      timeout: 0,
    });

    const onAbort = () => {
      const reason = signal?.reason;
      if (!settled) {
        settled = true;
        reject(reason);
      }
      // Destroying the body (or the request, before the response) destroys the socket: a stream the
      // caller gave up never goes back to the pool half read.
      if (responseBody) responseBody.destroy(reason);
      else if (response) response.destroy(reason);
      else req.destroy(reason);
    };
    const release = () => signal?.removeEventListener('abort', onAbort);
    signal?.addEventListener('abort', onAbort, { once: true });

    req.on('error', (err) => {
      if (response) return; // after the response, failures surface on the body
      release();
      if (settled) return;
      settled = true;
      reject(err);
    });
    req.on('response', (res) => {
      response = res;
      // Errors reach whoever reads the body; without a listener an unread body's error would throw.
      res.on('error', noop);
      res.on('close', release);
      responseBody = bodyOf(res, method);
      if (settled) return; // aborted meanwhile: onAbort destroyed it
      settled = true;
      resolve(new NodeResponse(res, url.href, responseBody) as unknown as Response);
    });
    req.end(body);
  });
}

const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/** The response's body, decompressed if the server compressed it; null when it has none. */
function bodyOf(res: http.IncomingMessage, method: string): Readable | null {
  if (method === 'HEAD' || NULL_BODY_STATUSES.has(res.statusCode ?? 0)) {
    res.resume();
    return null;
  }
  const decoders = decodersOf(res.headers['content-encoding']);
  if (decoders.length === 0) return res;
  const last = (pipeline as (...streams: unknown[]) => Readable)(res, ...decoders, noop);
  last.on('error', noop);
  return last;
}

/** Decoders for a `content-encoding` list (applied last first); none when any coding is unknown. */
function decodersOf(header: string | undefined): Readable[] {
  if (!header) return [];
  const decoders: Readable[] = [];
  const codings = header
    .toLowerCase()
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c && c !== 'identity');
  for (const coding of codings.reverse()) {
    const decoder = decoderOf(coding);
    if (!decoder) return [];
    decoders.push(decoder);
  }
  return decoders;
}

// As lenient as the platform fetch with a truncated body: what arrived is delivered, then the end.
const ZLIB_FLUSH = { flush: zlib.constants.Z_SYNC_FLUSH, finishFlush: zlib.constants.Z_SYNC_FLUSH };

function decoderOf(coding: string): Readable | undefined {
  if (coding === 'gzip' || coding === 'x-gzip') return zlib.createGunzip(ZLIB_FLUSH);
  if (coding === 'deflate') return zlib.createInflate(ZLIB_FLUSH);
  if (coding === 'br') {
    return zlib.createBrotliDecompress({
      flush: zlib.constants.BROTLI_OPERATION_FLUSH,
      finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH,
    });
  }
  return undefined;
}

function noop(): void {}

/** The part of `Response` the SDK reads; `body` is a Node Readable (async iterable) instead of a web stream. */
class NodeResponse {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly headers: Headers;
  readonly url: string;
  readonly redirected = false;
  readonly type = 'basic';
  readonly body: Readable | null;
  #used = false;

  constructor(res: http.IncomingMessage, url: string, body: Readable | null) {
    this.status = res.statusCode ?? 0;
    this.statusText = res.statusMessage ?? '';
    this.ok = this.status >= 200 && this.status < 300;
    this.url = url;
    this.body = body;
    this.headers = new Headers();
    const raw = res.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) this.headers.append(raw[i]!, raw[i + 1]!);
  }

  get bodyUsed(): boolean {
    return this.#used;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = await this.#bytes();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  async text(): Promise<string> {
    return new TextDecoder().decode(await this.#bytes());
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  clone(): never {
    throw new TypeError(
      'a node:http response cannot be cloned: use the platform fetch for middleware that clones',
    );
  }

  async #bytes(): Promise<Buffer> {
    if (this.#used) throw new TypeError('Body is unusable: Body has already been read');
    this.#used = true;
    if (!this.body) return Buffer.alloc(0);
    const chunks: Buffer[] = [];
    for await (const chunk of this.body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
}

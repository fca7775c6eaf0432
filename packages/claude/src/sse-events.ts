import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type Anthropic from '@anthropic-ai/sdk';
import { AnthropicError, APIError } from '@anthropic-ai/sdk';

type StreamEvent = Anthropic.RawMessageStreamEvent;

/** Called for each complete message (a blank line ends it); may throw, which stops the decoding. */
export type SSEMessageHandler = (event: string | null, data: string) => void;

/**
 * Server-sent events from bytes, as the SDK's `_iterSSEMessages` reads them: lines end with `\n`,
 * `\r\n` or `\r` (a `\r` at the end of a chunk waits for the next one), a blank line ends a message
 * that has an event or data, only `event:` and `data:` count (one space after the colon dropped,
 * several `data:` lines joined with `\n`), a line starting with `:` is a comment, a BOM at the start of
 * any line is dropped. Multi-byte UTF-8 split between chunks is kept whole. At the end of the body the
 * last line is taken even without a line ending, but a message is only dispatched by a blank line.
 */
export class SSEDecoder {
  readonly #utf8 = new StringDecoder('utf8');
  #text = '';
  #event: string | null = null;
  #data: string | null = null;
  #moreData: string[] | null = null;

  /** Decodes `chunk`, calling `onMessage` for each message it completes. */
  push(chunk: Uint8Array | string, onMessage: SSEMessageHandler): void {
    const decoded = typeof chunk === 'string' ? chunk : this.#utf8.write(chunk as Buffer);
    if (decoded.length === 0) return;
    const pendingCR = this.#text.length > 0 && this.#text.charCodeAt(this.#text.length - 1) === 0x0d;
    const text = this.#text.length > 0 ? this.#text + decoded : decoded;
    // No line ends in this chunk: wait for one (a pending `\r` may end a line now, though).
    if (!pendingCR && decoded.indexOf('\n') === -1 && decoded.indexOf('\r') === -1) {
      this.#text = text;
      return;
    }
    let start = 0;
    if (text.indexOf('\r') === -1) {
      for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
        this.#takeLine(text, start, end, onMessage);
        start = end + 1;
      }
    } else {
      for (let i = 0; i < text.length; i++) {
        const char = text.charCodeAt(i);
        if (char !== 0x0a && char !== 0x0d) continue;
        if (char === 0x0d && i + 1 === text.length) break; // `\r\n` split between chunks?
        const end = i;
        if (char === 0x0d && text.charCodeAt(i + 1) === 0x0a) i++;
        this.#takeLine(text, start, end, onMessage);
        start = i + 1;
      }
    }
    this.#text = start === 0 ? text : text.slice(start);
  }

  /** The body ended: takes its last line (a message without its blank line is dropped). */
  end(onMessage: SSEMessageHandler): void {
    let text = this.#text + this.#utf8.end();
    this.#text = '';
    if (text.length === 0) return;
    if (text.charCodeAt(text.length - 1) === 0x0d) text = text.slice(0, -1);
    this.#takeLine(text, 0, text.length, onMessage);
  }

  #takeLine(text: string, start: number, end: number, onMessage: SSEMessageHandler): void {
    if (start < end && text.charCodeAt(start) === 0xfeff) start++;
    if (start === end) {
      if (!this.#event && this.#data === null) return;
      const event = this.#event;
      const data = this.#moreData ? [this.#data, ...this.#moreData].join('\n') : (this.#data ?? '');
      this.#event = null;
      this.#data = null;
      this.#moreData = null;
      onMessage(event, data);
      return;
    }
    let colon = text.indexOf(':', start);
    if (colon >= end) colon = -1;
    if (colon === start) return; // a comment
    const nameLength = (colon === -1 ? end : colon) - start;
    const isEvent = nameLength === 5 && text.startsWith('event', start);
    if (!isEvent && !(nameLength === 4 && text.startsWith('data', start))) return;
    let value = '';
    if (colon !== -1) value = text.slice(text.charCodeAt(colon + 1) === 0x20 ? colon + 2 : colon + 1, end);
    if (isEvent) this.#event = value;
    else if (this.#data === null) this.#data = value;
    else if (this.#moreData === null) this.#moreData = [value];
    else this.#moreData.push(value);
  }
}

/** Past this many events read and not yet taken, the body is paused until the consumer catches up. */
const HIGH_WATER_EVENTS = 64;

const DONE: IteratorResult<StreamEvent> = Object.freeze({ done: true, value: undefined });

/**
 * The events of a streamed Messages API response, with the SDK's `Stream.fromSSEResponse` semantics:
 * `ping` and messages without an event name are skipped, an `error` event throws the `APIError` the SDK
 * throws, other events are parsed as JSON (malformed JSON throws), an abort of the request (an
 * `AbortError` from the body) ends the iteration quietly, any other failure of the body is thrown once
 * the events read before it are taken, and `return()` or a thrown error aborts `controller`.
 *
 * A Node `Readable` body (the node:http client) is read with its events: each chunk is decoded as it
 * arrives, its events handed to the waiting `next()` or queued (the body paused while the queue is
 * long), so an event costs one promise and no generator. Any other body (a web `ReadableStream`
 * from the platform fetch) is read through its async iterator into the same queue.
 */
export function sseEvents(
  response: { body: unknown; headers: Headers },
  controller: AbortController,
): AsyncIterator<StreamEvent> {
  return new SSEEvents(response, controller);
}

interface BodyReader {
  pause(): void;
  resume(): void;
  close(): void;
}

class SSEEvents implements AsyncIterator<StreamEvent> {
  readonly #headers: Headers;
  readonly #controller: AbortController;
  readonly #decoder = new SSEDecoder();
  readonly #queue: StreamEvent[] = [];
  #head = 0;
  #reader: BodyReader | undefined;
  /** open: reading; ended: the body ended (or was aborted); failed: `#failure` is next; closed: done. */
  #state: 'open' | 'ended' | 'failed' | 'closed' = 'open';
  #failure: unknown;
  #paused = false;
  #resolve: ((step: IteratorResult<StreamEvent>) => void) | undefined;
  #reject: ((err: unknown) => void) | undefined;

  constructor(response: { body: unknown; headers: Headers }, controller: AbortController) {
    this.#headers = response.headers;
    this.#controller = controller;
    const body = response.body;
    if (!body) {
      this.#fail(new AnthropicError('Attempted to iterate over a response with no body'));
    } else if (isNodeReadable(body)) {
      this.#reader = readNode(body, this);
    } else {
      this.#reader = readIterable(body as AsyncIterable<Uint8Array>, this);
    }
  }

  next(): Promise<IteratorResult<StreamEvent>> {
    if (this.#head < this.#queue.length) return Promise.resolve({ done: false, value: this.#take() });
    if (this.#state === 'failed') {
      this.#state = 'closed';
      return Promise.reject(this.#failure);
    }
    if (this.#state !== 'open') return Promise.resolve(DONE);
    return new Promise(this.#wait);
  }

  return(): Promise<IteratorResult<StreamEvent>> {
    this.#close();
    return Promise.resolve(DONE);
  }

  readonly #wait = (
    resolve: (step: IteratorResult<StreamEvent>) => void,
    reject: (err: unknown) => void,
  ): void => {
    this.#resolve = resolve;
    this.#reject = reject;
  };

  #take(): StreamEvent {
    const event = this.#queue[this.#head]!;
    this.#queue[this.#head++] = undefined as unknown as StreamEvent;
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
      if (this.#paused) {
        this.#paused = false;
        this.#reader?.resume();
      }
    }
    return event;
  }

  /** A chunk of the body. */
  onData(chunk: Uint8Array | string): void {
    if (this.#state !== 'open') return;
    try {
      this.#decoder.push(chunk, this.#onMessage);
    } catch (err) {
      this.#fail(err);
    }
  }

  /** The body ended. */
  onEnd(): void {
    if (this.#state !== 'open') return;
    try {
      this.#decoder.end(this.#onMessage);
    } catch (err) {
      this.#fail(err);
      return;
    }
    this.#state = 'ended';
    this.#settle();
  }

  /** The body failed: quietly ended when the request was aborted. */
  onError(err: unknown): void {
    if (this.#state !== 'open') return;
    if (isAbortError(err)) {
      this.#state = 'ended';
      this.#queue.length = 0;
      this.#head = 0;
      this.#settle();
    } else {
      this.#fail(err);
    }
  }

  readonly #onMessage = (event: string | null, data: string): void => {
    if (event === null || event === 'ping') return;
    if (event === 'error') {
      const body = safeJSON(data) ?? data;
      const type = (body as { error?: { type?: Anthropic.ErrorType } } | undefined)?.error?.type;
      throw new APIError(undefined, body, undefined, this.#headers, type);
    }
    if (!data) return;
    const value = JSON.parse(data) as StreamEvent;
    const resolve = this.#resolve;
    if (resolve) {
      this.#resolve = undefined;
      this.#reject = undefined;
      resolve({ done: false, value });
      return;
    }
    if (this.#queue.push(value) - this.#head >= HIGH_WATER_EVENTS && !this.#paused) {
      this.#paused = true;
      this.#reader?.pause();
    }
  };

  /** The failure is thrown once the queued events are taken; the request is aborted now. */
  #fail(err: unknown): void {
    this.#state = 'failed';
    this.#failure = err;
    this.#abort();
    this.#settle();
  }

  /** A waiting `next()` learns that nothing more comes (the queue is empty when one waits). */
  #settle(): void {
    const resolve = this.#resolve;
    const reject = this.#reject;
    if (!resolve || !reject) return;
    this.#resolve = undefined;
    this.#reject = undefined;
    if (this.#state === 'failed') {
      this.#state = 'closed';
      reject(this.#failure);
    } else {
      resolve(DONE);
    }
  }

  #close(): void {
    const wasOpen = this.#state === 'open';
    this.#state = 'closed';
    this.#queue.length = 0;
    this.#head = 0;
    if (wasOpen) this.#abort();
    this.#settle();
  }

  #abort(): void {
    this.#controller.abort();
    this.#reader?.close();
  }
}

function isNodeReadable(body: object): body is Readable {
  return typeof (body as Readable).on === 'function' && typeof (body as Readable).pause === 'function';
}

function readNode(body: Readable, events: SSEEvents): BodyReader {
  let ended = false;
  body.on('data', (chunk: Uint8Array | string) => events.onData(chunk));
  body.on('end', () => {
    ended = true;
    events.onEnd();
  });
  body.on('error', (err) => events.onError(err));
  // Destroyed without an error (and without its end): what `for await` reports as a premature close.
  body.on('close', () => {
    if (!ended) events.onError(prematureClose());
  });
  return {
    pause: () => body.pause(),
    resume: () => body.resume(),
    close: () => body.destroy(),
  };
}

function readIterable(body: AsyncIterable<Uint8Array>, events: SSEEvents): BodyReader {
  const iterator = body[Symbol.asyncIterator]();
  let paused = false;
  let resume: (() => void) | undefined;
  let closed = false;
  const pump = async () => {
    try {
      for (;;) {
        if (paused) await new Promise<void>((r) => (resume = r));
        if (closed) return;
        const step = await iterator.next();
        if (closed) return;
        if (step.done) return events.onEnd();
        events.onData(step.value);
      }
    } catch (err) {
      events.onError(err);
    }
  };
  void pump();
  return {
    pause: () => {
      paused = true;
    },
    resume: () => {
      paused = false;
      resume?.();
      resume = undefined;
    },
    close: () => {
      if (closed) return;
      closed = true;
      resume?.();
      iterator.return?.().catch(() => {});
    },
  };
}

function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/** The SDK's test (`internal/errors`): a spec fetch's abort, or Expo's. */
function isAbortError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  if ('name' in err && err.name === 'AbortError') return true;
  return 'message' in err && String(err.message).includes('FetchRequestCanceledException');
}

function safeJSON(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

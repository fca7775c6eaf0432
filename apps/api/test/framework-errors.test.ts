import net from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { harnessFixture, tenantFixture } from './helpers.ts';

/**
 * Requests Fastify or Node's HTTP parser reject before any route runs still get the documented
 * envelope `{ error: { code, message } }` with a catalog code and an `x-request-id`.
 */
const h = harnessFixture();
const t = tenantFixture(h);
let port: number;

beforeAll(async () => {
  port = Number(new URL(await h.listen()).port);
});

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Write `text` on a fresh socket and read one response (the server may close the socket after it). */
function rawRequest(text: string | Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete response; got ${JSON.stringify(received.slice(0, 300))}`));
    }, 5_000);
    const tryParse = (): boolean => {
      const split = received.indexOf('\r\n\r\n');
      if (split < 0) return false;
      const [statusLine, ...lines] = received.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      const length = Number(headers['content-length'] ?? Number.NaN);
      const body = received.slice(split + 4);
      if (!Number.isFinite(length) || Buffer.byteLength(body) < length) return false;
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body: body.slice(0, length) });
      return true;
    };
    socket.on('data', (d) => {
      received += d.toString('latin1');
      tryParse();
    });
    socket.on('close', () => {
      if (!tryParse()) {
        clearTimeout(timer);
        reject(new Error(`socket closed; got ${JSON.stringify(received.slice(0, 300))}`));
      }
    });
    socket.on('error', () => undefined);
  });
}

function expectEnvelope(res: RawResponse, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toContain('application/json');
  expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  const body = JSON.parse(res.body) as { error: { code: string; message: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.message).toEqual(expect.any(String));
  expect(Object.keys(body)).toEqual(['error']);
}

const auth = () => `Authorization: Bearer ${t.keys.viewer}\r\n`;

describe('errors raised before routing use the catalog envelope', () => {
  it('bad URL encoding in the path (%zz) is 400 bad_request', async () => {
    const res = await rawRequest(`GET /v1/conversations/%zz/messages HTTP/1.1\r\nHost: x\r\n${auth()}\r\n`);
    expectEnvelope(res, 400, 'bad_request');
  });

  it('an over-long path parameter is 414 uri_too_long', async () => {
    const res = await rawRequest(
      `GET /v1/conversations/${'a'.repeat(500)} HTTP/1.1\r\nHost: x\r\n${auth()}\r\n`,
    );
    expectEnvelope(res, 414, 'uri_too_long');
  });

  it('header overflow is 431 headers_too_large', async () => {
    const res = await rawRequest(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expectEnvelope(res, 431, 'headers_too_large');
  });

  it('malformed framing (Content-Length with Transfer-Encoding) is 400 bad_request', async () => {
    const res = await rawRequest(
      'POST /v1/conversations HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
    );
    expectEnvelope(res, 400, 'bad_request');
  });

  it('a request line that is not HTTP is 400 bad_request', async () => {
    const res = await rawRequest('GARBAGE\r\n\r\n');
    expectEnvelope(res, 400, 'bad_request');
  });

  it('a header value with a control character is 400 bad_request', async () => {
    const res = await rawRequest(
      Buffer.concat([
        Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a'),
        Buffer.from([0]),
        Buffer.from('b\r\n\r\n'),
      ]),
    );
    expectEnvelope(res, 400, 'bad_request');
  });

  it('a bad chunk size in a chunked body is 400 bad_request', async () => {
    const res = await rawRequest(
      `POST /v1/conversations HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
    );
    expectEnvelope(res, 400, 'bad_request');
  });

  it('an unknown route is 404 not_found, with the same envelope', async () => {
    const res = await rawRequest('GET /nope HTTP/1.1\r\nHost: x\r\n\r\n');
    expectEnvelope(res, 404, 'not_found');
  });
});

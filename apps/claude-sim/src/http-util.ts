import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody, invalidRequest, SimApiError } from './api-error.ts';

/** Reads and parses a JSON request body; a body over `maxBytes` is a 413, bad JSON a 400. */
export async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= maxBytes) chunks.push(chunk);
  }
  if (size > maxBytes) {
    const mb = Math.round(maxBytes / (1024 * 1024));
    throw new SimApiError(
      'request_too_large',
      `Request exceeds the maximum allowed number of bytes. The maximum request size is ${mb} MB.`,
    );
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw invalidRequest('There was an issue with the format of the request body: invalid JSON');
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

/** Answers with an API error in the real shape (status, type, message, request_id, headers). */
export function sendApiError(res: ServerResponse, error: SimApiError, requestId: string): void {
  sendJson(
    res,
    error.status,
    errorBody(error.type, error.message, requestId, error.errorCode),
    error.headers,
  );
}

/** The API key a request carries (`x-api-key`, or `Authorization: Bearer`), if any. */
export function apiKeyOf(req: IncomingMessage): string | undefined {
  const key = req.headers['x-api-key'];
  if (typeof key === 'string' && key.length > 0) return key;
  const auth = req.headers.authorization;
  const match = typeof auth === 'string' ? /^Bearer\s+(.+)$/i.exec(auth) : null;
  return match?.[1];
}

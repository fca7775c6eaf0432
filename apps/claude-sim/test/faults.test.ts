import { waitFor } from '@turnstream/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSimulator, startSimulator } from '../src/index.ts';
import { API_HEADERS, parseSse, postMessages, readSse, request } from './support/http.ts';

let sim: RunningSimulator;

beforeAll(async () => {
  sim = await startSimulator({ tokenDelayMs: 0, replyWords: 10 });
});
afterEach(async () => {
  await fetch(`${sim.url}/__sim/faults`, { method: 'DELETE' });
  await fetch(`${sim.url}/__sim/requests`, { method: 'DELETE' });
});
afterAll(async () => {
  await sim.close();
});

function addFaults(rules: unknown[]) {
  return fetch(`${sim.url}/__sim/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ rules }),
  });
}

async function errorOf(res: Response) {
  const body = (await res.json()) as {
    type: string;
    error: { type: string; message: string };
    request_id: string;
  };
  expect(body.type).toBe('error');
  expect(body.request_id).toBe(res.headers.get('request-id'));
  return body.error;
}

describe('status faults', () => {
  it.each([
    ['overloaded', 529, 'overloaded_error', 'true'],
    ['server_error', 500, 'api_error', 'true'],
    ['auth', 401, 'authentication_error', null],
    ['invalid_request', 400, 'invalid_request_error', null],
    ['permission', 403, 'permission_error', null],
    ['billing', 402, 'billing_error', null],
    ['not_found', 404, 'not_found_error', null],
    ['request_too_large', 413, 'request_too_large', null],
  ])('%s answers %i %s', async (fault, status, type, shouldRetry) => {
    await addFaults([{ fault, times: 1 }]);
    const res = await postMessages(sim.url, request('hi', { stream: true }));
    expect(res.status).toBe(status);
    expect(res.headers.get('x-should-retry')).toBe(shouldRetry);
    expect((await errorOf(res)).type).toBe(type);
    expect((await postMessages(sim.url, request('hi'))).status).toBe(200);
  });

  it('rate_limited answers 429 with retry-after, retry-after-ms and x-should-retry', async () => {
    await addFaults([{ fault: 'rate_limited', retryAfterMs: 2500 }]);
    const res = await postMessages(sim.url, request('hi'));
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('3');
    expect(res.headers.get('retry-after-ms')).toBe('2500');
    expect(res.headers.get('x-should-retry')).toBe('true');
    expect((await errorOf(res)).type).toBe('rate_limit_error');
  });

  it('rate_limited with errorCode enforced_spend_limit_reached carries the code and no retry-after', async () => {
    await addFaults([{ fault: 'rate_limited', errorCode: 'enforced_spend_limit_reached' }]);
    const res = await postMessages(sim.url, request('hi'));
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBeNull();
    expect(res.headers.get('x-should-retry')).toBe('false');
    const body = (await res.json()) as { error: { details?: { error_code?: string } } };
    expect(body.error.details?.error_code).toBe('enforced_spend_limit_reached');
  });

  it('strikes only matching requests, `times` times, in rule order', async () => {
    await addFaults([
      { fault: 'overloaded', times: 2, match: { contains: 'BOOM' } },
      { fault: 'server_error', match: { minMessages: 3 } },
    ]);
    expect((await postMessages(sim.url, request('calm'))).status).toBe(200);
    expect((await postMessages(sim.url, request('a BOOM b'))).status).toBe(529);
    expect((await postMessages(sim.url, request('a BOOM b'))).status).toBe(529);
    expect((await postMessages(sim.url, request('a BOOM b'))).status).toBe(200);
    const three = {
      ...request('x'),
      messages: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'b' },
        { role: 'user', content: 'c' },
      ],
    };
    expect((await postMessages(sim.url, three)).status).toBe(500);
    expect((await postMessages(sim.url, three)).status).toBe(500);
    const listed = (await (await fetch(`${sim.url}/__sim/faults`)).json()) as {
      rules: Array<{ fault: string }>;
    };
    expect(listed.rules.map((r) => r.fault)).toEqual(['server_error']);
  });

  it('held: the request is logged at once, its answer waits for /__sim/faults/release', async () => {
    await addFaults([{ fault: 'invalid_request', times: 1, held: true, message: 'held then rejected' }]);
    let settled = false;
    const answer = postMessages(sim.url, request('hold me', { stream: true })).then((res) => {
      settled = true;
      return res;
    });
    await waitFor(async () => {
      const res = await fetch(`${sim.url}/__sim/requests`);
      const { requests } = (await res.json()) as { requests: unknown[] };
      return requests.length === 1;
    });
    expect(settled).toBe(false);
    const release = await fetch(`${sim.url}/__sim/faults/release`, { method: 'POST' });
    expect(await release.json()).toEqual({ released: 1 });
    const res = await answer;
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toBe('held then rejected');
  });

  it('rejects malformed rules with a 400', async () => {
    const res = await addFaults([{ fault: 'meteor' }]);
    expect(res.status).toBe(400);
  });
});

describe('midstream faults', () => {
  it('overloaded_midstream sends an SSE error event after N chunks', async () => {
    await addFaults([{ fault: 'overloaded_midstream', afterChunks: 3 }]);
    const res = await postMessages(sim.url, request('hi', { stream: true }));
    expect(res.status).toBe(200);
    const events = parseSse(await res.text());
    expect(events.filter((e) => e.event === 'content_block_delta')).toHaveLength(3);
    expect(events.at(-1)).toEqual({
      event: 'error',
      data: {
        type: 'error',
        error: { type: 'overloaded_error', message: 'Overloaded' },
        request_id: res.headers.get('request-id'),
      },
    });
    expect(events.some((e) => e.event === 'message_stop')).toBe(false);
  });

  it('disconnect_midstream destroys the socket after N chunks', async () => {
    await addFaults([{ fault: 'disconnect_midstream', afterChunks: 2 }]);
    const res = await postMessages(sim.url, request('hi', { stream: true }));
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const event of readSse(res)) seen.push(event.event);
      })(),
    ).rejects.toThrow();
    expect(seen.filter((e) => e === 'content_block_delta')).toHaveLength(2);
  });

  it('stall leaves the connection open without sending, until the client aborts', async () => {
    await addFaults([{ fault: 'stall', afterChunks: 1 }]);
    const controller = new AbortController();
    const res = await fetch(`${sim.url}/v1/messages`, {
      method: 'POST',
      headers: API_HEADERS,
      body: JSON.stringify(request('hi', { stream: true })),
      signal: controller.signal,
    });
    const seen: string[] = [];
    const reading = (async () => {
      for await (const event of readSse(res)) {
        seen.push(event.event);
        // Nothing follows the first delta: the reader would wait forever, so abort it here.
        if (event.event === 'content_block_delta') controller.abort();
      }
    })();
    await expect(reading).rejects.toThrow();
    expect(seen.filter((e) => e === 'content_block_delta')).toHaveLength(1);
    expect(sim.requests().at(-1)).toMatchObject({ fault: 'stall', status: 200 });
  });

  it('close() ends stalled streams instead of hanging', async () => {
    const own = await startSimulator({ tokenDelayMs: 0 });
    own.addFaults([{ fault: 'stall', afterChunks: 0 }]);
    const res = await postMessages(own.url, request('hi', { stream: true }));
    const events: string[] = [];
    const reading = (async () => {
      for await (const event of readSse(res)) events.push(event.event);
    })();
    await own.close();
    await reading.catch(() => {});
    expect(events).toContain('message_start');
    expect(events).not.toContain('content_block_delta');
  });

  it('are not spent on requests that fail validation', async () => {
    await addFaults([{ fault: 'overloaded_midstream', times: 1 }]);
    const invalid = await postMessages(sim.url, { ...request('x', { stream: true }), max_tokens: 0 });
    expect(invalid.status).toBe(400);
    expect(sim.requests().at(-1)?.fault).toBeNull();
    const events = parseSse(await (await postMessages(sim.url, request('hi', { stream: true }))).text());
    expect(events.at(-1)?.event).toBe('error');
  });

  it('non-streaming requests: overloaded_midstream is a 529', async () => {
    await addFaults([{ fault: 'overloaded_midstream' }]);
    expect((await postMessages(sim.url, request('hi'))).status).toBe(529);
  });
});

describe('GET /__sim/requests', () => {
  it('lists requests with their fault and status; full=1 adds system and messages; DELETE resets', async () => {
    await addFaults([{ fault: 'overloaded', times: 1 }]);
    await postMessages(sim.url, request('one', { system: 'sys' }));
    await postMessages(sim.url, {
      ...request('two'),
      messages: [
        { role: 'user', content: 'q' },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 't', signature: 'bad' }] },
        { role: 'user', content: 'two' },
      ],
    });
    const summary = (await (await fetch(`${sim.url}/__sim/requests`)).json()) as {
      requests: Array<Record<string, unknown>>;
    };
    expect(summary.requests).toHaveLength(2);
    expect(summary.requests[0]).toMatchObject({
      model: 'claude-sonnet-4-6',
      messageCount: 1,
      hasThinking: false,
      fault: 'overloaded',
      status: 529,
    });
    expect(summary.requests[1]).toMatchObject({
      messageCount: 3,
      hasThinking: true,
      fault: null,
      status: 400,
    });
    expect(summary.requests[0]?.body).toBeUndefined();
    expect(typeof summary.requests[0]?.time).toBe('string');
    expect(summary.requests[0]?.requestId).toMatch(/^req_/);

    const full = (await (await fetch(`${sim.url}/__sim/requests?full=1`)).json()) as {
      requests: Array<Record<string, unknown>>;
    };
    expect(full.requests[0]?.body).toEqual({ system: 'sys', messages: [{ role: 'user', content: 'one' }] });

    await fetch(`${sim.url}/__sim/requests`, { method: 'DELETE' });
    const empty = (await (await fetch(`${sim.url}/__sim/requests`)).json()) as { requests: unknown[] };
    expect(empty.requests).toEqual([]);
  });
});

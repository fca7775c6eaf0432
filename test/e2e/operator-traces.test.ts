import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from '@turnstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestSystem } from '../support/system.ts';
import { createConversation, postMessage, waitForTurn } from '../support/turns.ts';

interface ExportedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
}

/** An OTLP/HTTP (JSON) trace receiver that keeps every span in memory. */
async function spanCollector(): Promise<{ url: string; spans: ExportedSpan[]; server: Server }> {
  const spans: ExportedSpan[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      // biome-ignore lint/suspicious/noExplicitAny: OTLP JSON, read field by field
      const doc = JSON.parse(body || '{}') as any;
      for (const rs of doc.resourceSpans ?? []) {
        const service = rs.resource?.attributes?.find((a: { key: string }) => a.key === 'service.name')?.value
          ?.stringValue;
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({
              service,
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId ?? '',
              name: s.name,
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, server };
}

describe('traces', () => {
  let sys: TestSystem;
  let collector: Awaited<ReturnType<typeof spanCollector>>;
  beforeAll(async () => {
    collector = await spanCollector();
    const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_BSP_SCHEDULE_DELAY: '50' };
    sys = await new TestSystem({ apiEnv: otel, workerEnv: otel }).start();
  });
  afterAll(async () => {
    await sys?.stop();
    await new Promise((r) => collector?.server.close(r));
  });

  it('follows one message from the POST through the queue, the turn, the Claude call and completion', async () => {
    const conv = await createConversation(sys);
    const messageId = await postMessage(sys, conv, 'trace me');
    expect((await waitForTurn(sys, conv, messageId)).user.status).toBe('completed');

    const post = await waitFor(
      () =>
        collector.spans.find(
          (s) => s.service === 'turnstream-api' && s.name === 'POST /v1/conversations/:id/messages',
        ),
      { message: 'the POST span exported' },
    );
    const trace = await waitFor(
      () => {
        const spans = collector.spans.filter((s) => s.traceId === post.traceId);
        const has = (name: string) => spans.some((s) => s.name === name || s.name === `${name}.turn`);
        return ['turn.complete', 'turn', 'process turns'].every(has) ? spans : null;
      },
      { message: 'the worker spans of the same trace exported' },
    );
    // BullMQ names its spans `<operation> <queue>.<job name>`.
    const names = trace.map(
      (s) => `${s.service}:${s.name.replace(/^(add|process) turns\.turn$/, '$1 turns')}`,
    );
    expect(names).toEqual(
      expect.arrayContaining([
        'turnstream-api:POST /v1/conversations/:id/messages',
        'turnstream-api:add turns',
        'turnstream-worker:process turns',
        'turnstream-worker:turn',
        'turnstream-worker:claude.stream',
        'turnstream-worker:turn.complete',
      ]),
    );
    // One tree: every span but the POST has its parent in the trace, across both processes.
    const ids = new Set(trace.map((s) => s.spanId));
    for (const s of trace)
      if (s !== post) expect(ids.has(s.parentSpanId), `${s.service}:${s.name}`).toBe(true);
    const byName = (n: string) => trace.find((s) => s.name === n || s.name === `${n}.turn`)!;
    expect(byName('turn').parentSpanId).toBe(byName('process turns').spanId);
    expect(byName('claude.stream').parentSpanId).toBe(byName('turn').spanId);
    expect(byName('turn.complete').parentSpanId).toBe(byName('turn').spanId);
    // A plain GET is its own trace.
    expect(
      collector.spans
        .filter((s) => s.name === 'POST /v1/conversations')
        .every((s) => s.traceId !== post.traceId),
    ).toBe(true);

    // The worker's log lines of the turn carry the trace id.
    const worker = sys.workers[0]!;
    await waitFor(() =>
      worker.lines.some(
        (l) => l.event === 'turn.stream_completed' && l.messageId === messageId && l.traceId === post.traceId,
      ),
    );
  });
});

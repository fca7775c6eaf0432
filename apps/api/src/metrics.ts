import { createMetricsRegistry, LATENCY_SECONDS_BUCKETS } from '@turnstream/telemetry';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * The API's Prometheus metrics (one registry per app instance). Routes call the small methods;
 * `/metrics` (and the `METRICS_PORT` listener) expose `registry`. The plain fields mirror the
 * counters for in-process readers.
 */
export class ApiMetrics {
  readonly registry: Registry;
  /** Completed requests by `"<METHOD> <route pattern> <status>"` (unknown routes: route `not_found`). */
  readonly requests = new Map<string, number>();
  messagesAccepted = 0;
  enqueueFailures = 0;
  sseClientsOpen = 0;
  sseOverflows = 0;
  private readonly http: Counter<'method' | 'route' | 'status'>;
  private readonly httpSeconds: Histogram<'method' | 'route'>;
  private readonly accepted: Counter;
  private readonly enqueueFailed: Counter;
  private readonly sseClients: Gauge;
  private readonly overflows: Counter;

  constructor(registry: Registry = createMetricsRegistry({ service: 'api' })) {
    this.registry = registry;
    const registers = [registry];
    this.http = new Counter({
      name: 'turnstream_http_requests_total',
      help: 'Completed HTTP requests by method, route pattern and status.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpSeconds = new Histogram({
      name: 'turnstream_http_request_duration_seconds',
      help: 'HTTP request duration (SSE responses: how long the stream was open).',
      labelNames: ['method', 'route'],
      buckets: LATENCY_SECONDS_BUCKETS,
      registers,
    });
    this.accepted = new Counter({
      name: 'turnstream_messages_accepted_total',
      help: 'User messages accepted (202) and newly stored.',
      registers,
    });
    this.enqueueFailed = new Counter({
      name: 'turnstream_enqueue_failures_total',
      help: 'Messages stored whose job could not be enqueued (503 enqueue_failed; the reconciler retries).',
      registers,
    });
    this.sseClients = new Gauge({
      name: 'turnstream_sse_clients',
      help: 'Server-Sent Events responses open right now on this API process.',
      registers,
    });
    this.overflows = new Counter({
      name: 'turnstream_sse_overflows_total',
      help: 'SSE responses ended because the client could not keep up (stream.overflow).',
      registers,
    });
  }

  requestCompleted(method: string, route: string, status: number, durationMs = 0): void {
    const key = `${method} ${route} ${status}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    this.http.inc({ method, route, status: String(status) });
    this.httpSeconds.observe({ method, route }, durationMs / 1000);
  }

  messageAccepted(): void {
    this.messagesAccepted++;
    this.accepted.inc();
  }

  enqueueFailure(): void {
    this.enqueueFailures++;
    this.enqueueFailed.inc();
  }

  sseOpened(): void {
    this.sseClientsOpen++;
    this.sseClients.inc();
  }

  sseClosed(reason: string): void {
    this.sseClientsOpen--;
    this.sseClients.dec();
    if (reason === 'overflow') {
      this.sseOverflows++;
      this.overflows.inc();
    }
  }
}

export function createApiMetrics(registry?: Registry): ApiMetrics {
  return new ApiMetrics(registry);
}

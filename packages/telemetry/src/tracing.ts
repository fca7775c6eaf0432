import { context, propagation, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { BullMQOtel } from 'bullmq-otel';

export interface TracingOptions {
  /** `service.name` of every span of this process. */
  serviceName: string;
  /** OTLP/HTTP base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`); spans go to `<endpoint>/v1/traces`. */
  endpoint?: string;
  /** Export to this exporter instead, span by span (tests: an in-memory exporter). */
  exporter?: SpanExporter;
  /** Batch export delay in ms (`OTEL_BSP_SCHEDULE_DELAY`). Default 1000. */
  exportDelayMs?: number;
}

export interface Tracing {
  /** BullMQ's telemetry option: add/process spans, trace context carried in the job. */
  bullmq: BullMQOtel;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Turn tracing on for this process: a global tracer provider, W3C trace-context propagation and an
 * AsyncLocalStorage context manager. Returns null (tracing off, every span a no-op) without an endpoint
 * or exporter.
 */
export function startTracing(opts: TracingOptions): Tracing | null {
  if (!opts.endpoint && !opts.exporter) return null;
  const exporter =
    opts.exporter ?? new OTLPTraceExporter({ url: `${opts.endpoint!.replace(/\/+$/, '')}/v1/traces` });
  const processor = opts.exporter
    ? new SimpleSpanProcessor({ exporter })
    : new BatchSpanProcessor({ exporter, scheduledDelayMillis: opts.exportDelayMs ?? 1000 });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': opts.serviceName }),
    spanProcessors: [processor],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return {
    bullmq: new BullMQOtel({ tracerName: 'turnstream-bullmq' }),
    forceFlush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

/** Turnstream's tracer (a no-op until {@link startTracing} ran). */
export const tracer = () => trace.getTracer('turnstream');

/**
 * Run `fn` in a new active span (child of the active one); errors are recorded and rethrown, except
 * those `expected` says are control flow (they only name themselves in `turnstream.ended_by`).
 */
export async function inSpan<T>(
  name: string,
  attributes: Record<string, string | number | boolean | undefined>,
  fn: (span: Span) => Promise<T>,
  opts: { kind?: SpanKind; expected?: (err: unknown) => boolean } = {},
): Promise<T> {
  const kind = opts.kind ?? SpanKind.INTERNAL;
  return tracer().startActiveSpan(name, { kind, attributes: defined(attributes) }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      if (opts.expected?.(err)) {
        span.setAttribute('turnstream.ended_by', (err as Error)?.name ?? 'unknown');
        throw err;
      }
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.name });
      throw err;
    } finally {
      span.end();
    }
  });
}

function defined(attrs: Record<string, string | number | boolean | undefined>) {
  return Object.fromEntries(Object.entries(attrs).filter(([, v]) => v !== undefined)) as Record<
    string,
    string | number | boolean
  >;
}

export { context, propagation, type Span, SpanKind, SpanStatusCode, trace };

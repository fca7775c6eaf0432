/**
 * In-process counters of the API: the hook a metrics exporter (Prometheus) reads later.
 * Pass your own to `buildApp` to observe it; otherwise the app keeps a private one.
 */
export interface ApiMetrics {
  /** Completed requests by `"<METHOD> <route pattern> <status>"` (unknown routes: route `not_found`). */
  readonly requests: Map<string, number>;
  /** User messages accepted (202) and newly stored. */
  messagesAccepted: number;
  /** Enqueue attempts that failed (503 enqueue_failed). */
  enqueueFailures: number;
  /** SSE responses open right now. */
  sseClientsOpen: number;
  /** SSE responses ended because the client could not keep up (`stream.overflow`). */
  sseOverflows: number;
  requestCompleted(method: string, route: string, status: number): void;
}

export function createApiMetrics(): ApiMetrics {
  return {
    requests: new Map(),
    messagesAccepted: 0,
    enqueueFailures: 0,
    sseClientsOpen: 0,
    sseOverflows: 0,
    requestCompleted(method, route, status) {
      const key = `${method} ${route} ${status}`;
      this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    },
  };
}

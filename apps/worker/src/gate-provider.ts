import {
  type BeforeSend,
  type ClaudeProvider,
  classifyClaudeError,
  claudeRequestIdOf,
  formatGateCheck,
  GATE_CHECK_HEADER,
  type SendAdditions,
  type StreamRequest,
} from '@turnstream/claude';
import type { Logger } from '@turnstream/logger';
import type { ClaudeRateGate, GateOpened } from './rate-gate.ts';
import { tapStream } from './tap-stream.ts';

/** How the provider behind the gate behaves beyond waiting. */
export interface GateProviderOptions {
  /**
   * Send `x-turnstream-gate-check: at-us=<epoch µs, the gate's Redis clock>` (when the check that let
   * the request go ran) with every request (`CLAUDE_GATE_CHECK_HEADER`; for the simulator in tests). Default false.
   */
  checkHeader?: boolean;
}

/**
 * The provider behind the gate: every call checks the gate right before its HTTP request leaves
 * (`beforeSend`), waiting there while it is closed — one check, on the request's own path, so an open
 * gate costs one Redis round trip and a 429 another call got a moment ago is still seen; a call
 * answered with a rate limit closes it for the wait the server asked for (`retry-after`, or the reset
 * headers) before the error reaches the turn. (A turn also meets the gate before it takes its lease.)
 */
export function gateProvider(
  provider: ClaudeProvider,
  gate: ClaudeRateGate,
  log: Logger,
  opts: GateProviderOptions = {},
): ClaudeProvider {
  const beforeSend: BeforeSend = opts.checkHeader
    ? (signal) => waitAtSend(gate, log, signal).then(checkHeader)
    : (signal) => waitAtSend(gate, log, signal).then(() => undefined);
  return {
    countTokens: (req) => closeOnRateLimit(() => provider.countTokens({ ...req, beforeSend }), gate, log),
    stream: (req: StreamRequest) => gatedStream(provider, gate, log, { ...req, beforeSend }),
  };
}

/** The header naming the check that let the request go; none when the check failed (Redis away). */
function checkHeader(opened: GateOpened | undefined): SendAdditions | undefined {
  if (!opened) return undefined;
  const value = formatGateCheck({ atUs: opened.atUs });
  return { headers: { [GATE_CHECK_HEADER]: value } };
}

/**
 * The last check before a request leaves: wait while the gate is closed (the call keeps its attempt:
 * it has not failed). Redis failing here lets the request go (it passed the gate a moment ago; no
 * check to report then); only an abort ends the call.
 */
async function waitAtSend(
  gate: ClaudeRateGate,
  log: Logger,
  signal: AbortSignal,
): Promise<GateOpened | undefined> {
  try {
    const opened = await gate.waitOpen(signal);
    if (opened.waitedMs > 0)
      log.info(
        { event: 'claude.send_held', waitedMs: opened.waitedMs },
        'request held at the send until the rate gate opened',
      );
    return opened;
  } catch (err) {
    if (signal.aborted) throw err;
    log.warn({ event: 'claude.rate_gate_check_failed', err: String(err) }, 'could not check the rate gate');
    return undefined;
  }
}

function gatedStream(provider: ClaudeProvider, gate: ClaudeRateGate, log: Logger, req: StreamRequest) {
  return tapStream(() => provider.stream(req), { error: (err) => noteRateLimit(err, gate, log) });
}

async function closeOnRateLimit<T>(call: () => Promise<T>, gate: ClaudeRateGate, log: Logger): Promise<T> {
  try {
    return await call();
  } catch (err) {
    await noteRateLimit(err, gate, log);
    throw err;
  }
}

async function noteRateLimit(err: unknown, gate: ClaudeRateGate, log: Logger): Promise<void> {
  const cls = classifyClaudeError(err);
  if (cls.kind !== 'rate_limited') return;
  try {
    const { closedMs, atUs } = await gate.close(cls.retryAfterMs);
    log.warn(
      {
        event: 'claude.rate_gate_closed',
        retryAfterMs: cls.retryAfterMs,
        closedMs,
        closedAtUs: atUs,
        requestId: claudeRequestIdOf(err),
      },
      'Claude rate limit: every worker waits',
    );
  } catch (closeErr) {
    // Redis unreachable: this turn still waits (its job is rate limited), the others find out themselves.
    log.error(
      { event: 'claude.rate_gate_failed', err: String(closeErr), requestId: claudeRequestIdOf(err) },
      'could not close the rate gate',
    );
  }
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import { GATE_CHECK_HEADER, parseGateCheck } from '@turnstream/claude';
import { errorBody, SimApiError } from './api-error.ts';
import type { ActiveFaultRule, FaultBook, MidstreamFault } from './faults.ts';
import { isMidstreamFault } from './faults.ts';
import { newMessageId } from './ids.ts';
import type { SimLogger } from './logger.ts';
import type { PromptCache } from './prompt-cache.ts';
import { type PlanDefaults, planReply, type ReplyPlan } from './reply-plan.ts';
import type { RequestJournal } from './request-journal.ts';
import type { LoggedRequest, RequestLog } from './request-log.ts';
import type { ThinkingSigner } from './signing.ts';
import { SseWriter } from './sse.ts';
import { statusFaultError } from './status-faults.ts';
import { deltaUsage, type InputUsage, inputUsage, messageUsage } from './usage.ts';
import { carriesThinking, lastUserText, type MessagesRequest, validateMessagesRequest } from './validate.ts';

/** What `POST /v1/messages` needs from the simulator. */
export interface MessagesDeps {
  signer: ThinkingSigner;
  cache: PromptCache;
  faults: FaultBook;
  log: RequestLog;
  /** Every request, with its body, when a journal file is configured. */
  journal?: RequestJournal | undefined;
  logger: SimLogger;
  defaults: PlanDefaults;
  contextLimitTokens: number;
  maxOutputTokens: number;
}

interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  requestId: string;
  /** Aborted when the connection closes before the response finished. */
  signal: AbortSignal;
}

/**
 * `POST /v1/messages`: validation, fault rules (a status fault wins over a validation error), prompt
 * caching, and the reply as JSON or SSE. Throws {@link SimApiError} for error answers.
 */
export async function handleMessages(body: unknown, ex: Exchange, deps: MessagesDeps): Promise<void> {
  const raw = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const entry: LoggedRequest = {
    time: new Date().toISOString(),
    requestId: ex.requestId,
    model: typeof raw.model === 'string' ? raw.model : null,
    stream: raw.stream === true,
    messageCount: Array.isArray(raw.messages) ? raw.messages.length : 0,
    hasThinking: carriesThinking(raw.messages),
    ...gateCheckOf(ex.req),
    fault: null,
    status: 0,
    closedEarly: false,
    body: { system: raw.system, messages: raw.messages },
  };
  const sentBody = entry.body;
  deps.log.push(entry);
  ex.res.once('finish', () => {
    if (entry.status === 0) entry.status = ex.res.statusCode;
  });
  const startedAt = Date.now();
  ex.res.once('close', () => {
    if (entry.status === 0) entry.status = ex.res.headersSent ? ex.res.statusCode : 0;
    if (!ex.res.writableFinished) entry.closedEarly = true;
    entry.endTime = new Date().toISOString();
    deps.journal?.write(entry, sentBody);
    deps.logger.debug({
      event: 'sim.request_completed',
      requestId: ex.requestId,
      status: entry.status,
      fault: entry.fault,
      closedEarly: entry.closedEarly,
      durationMs: Date.now() - startedAt,
    });
  });

  // Status faults strike any request (even one that would fail validation); midstream faults need a
  // request that gets a response body, so they wait for a valid one.
  let request: MessagesRequest | undefined;
  let invalid: unknown;
  try {
    request = validateMessagesRequest(body, deps);
  } catch (err) {
    invalid = err;
  }
  const fault = deps.faults.take(
    { lastUserText: lastUserText(raw.messages), messageCount: entry.messageCount },
    (rule) => request !== undefined || !isMidstreamFault(rule.fault),
  );
  if (fault) {
    entry.fault = fault.fault;
    deps.logger.info({ event: 'sim.fault_applied', fault: fault.fault, requestId: ex.requestId });
    if (!isMidstreamFault(fault.fault)) {
      if (fault.held) {
        await deps.faults.hold(ex.signal);
        if (ex.signal.aborted) return;
      }
      throw statusFaultError(
        fault as ActiveFaultRule & { fault: Exclude<typeof fault.fault, MidstreamFault> },
        String(entry.model),
      );
    }
  }
  if (!request) throw invalid;

  const usage = inputUsage(request.inputTokens, deps.cache.apply(raw));
  const plan = planReply(request, deps.defaults, deps.signer);
  entry.reply = plan.words.join('');
  const midstream = fault && isMidstreamFault(fault.fault) ? fault : undefined;

  if (request.stream) {
    entry.status = 200;
    await streamReply(ex, request, plan, usage, midstream);
    return;
  }
  if (midstream) {
    await nonStreamingFault(ex, midstream.fault as MidstreamFault);
    return;
  }
  const message = {
    id: newMessageId(),
    type: 'message',
    role: 'assistant',
    model: request.model,
    content: contentOf(plan),
    stop_reason: plan.stopReason,
    stop_sequence: null,
    usage: messageUsage(usage, plan.outputTokens),
  };
  const payload = JSON.stringify(message);
  ex.res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  ex.res.end(payload);
}

/** The request's gate-check header, parsed, as a log entry field (none when absent or malformed). */
function gateCheckOf(req: IncomingMessage): Pick<LoggedRequest, 'gateCheck'> {
  const header = req.headers[GATE_CHECK_HEADER];
  const gateCheck = parseGateCheck(Array.isArray(header) ? header[0] : header);
  return gateCheck ? { gateCheck } : {};
}

function contentOf(plan: ReplyPlan): unknown[] {
  const content: unknown[] = [];
  if (plan.thinking) {
    content.push({ type: 'thinking', thinking: plan.thinking.text, signature: plan.thinking.signature });
  }
  content.push({ type: 'text', text: plan.words.join('') });
  return content;
}

async function nonStreamingFault(ex: Exchange, fault: MidstreamFault): Promise<void> {
  if (fault === 'overloaded_midstream') {
    throw new SimApiError('overloaded_error', 'Overloaded', { headers: { 'x-should-retry': 'true' } });
  }
  if (fault === 'disconnect_midstream') {
    ex.req.socket.destroy();
    return;
  }
  const writer = new SseWriter(ex.res, ex.signal);
  await writer.hang();
}

async function streamReply(
  ex: Exchange,
  request: MessagesRequest,
  plan: ReplyPlan,
  usage: InputUsage,
  fault: ActiveFaultRule | undefined,
): Promise<void> {
  const sse = new SseWriter(ex.res, ex.signal);
  const afterChunks = fault?.afterChunks ?? 0;
  let chunks = 0;

  /** Applies the midstream fault once `afterChunks` deltas went out; true when the stream is over. */
  const strikes = async (): Promise<boolean> => {
    if (!fault || chunks < afterChunks) return false;
    if (fault.fault === 'overloaded_midstream') {
      await sse.send('error', errorBody('overloaded_error', 'Overloaded', ex.requestId));
      sse.end();
    } else if (fault.fault === 'disconnect_midstream') {
      await sse.flushed(); // the chunks before the fault reach the client, then the socket dies
      ex.req.socket.destroy();
    } else {
      await sse.hang();
    }
    return true;
  };
  const delta = async (index: number, payload: Record<string, unknown>): Promise<boolean> => {
    if (await strikes()) return true;
    await sse.pause(plan.delayMs);
    await sse.send('content_block_delta', { type: 'content_block_delta', index, delta: payload });
    chunks += 1;
    return false;
  };

  try {
    sse.open({});
    await sse.send('message_start', {
      type: 'message_start',
      message: {
        id: newMessageId(),
        type: 'message',
        role: 'assistant',
        model: request.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: messageUsage(usage, 1),
      },
    });
    let index = 0;
    if (plan.thinking) {
      await sse.send('content_block_start', {
        type: 'content_block_start',
        index,
        content_block: { type: 'thinking', thinking: '', signature: '' },
      });
      await sse.send('ping', { type: 'ping' });
      for (const text of plan.thinking.deltas) {
        if (await delta(index, { type: 'thinking_delta', thinking: text })) return;
      }
      await sse.send('content_block_delta', {
        type: 'content_block_delta',
        index,
        delta: { type: 'signature_delta', signature: plan.thinking.signature },
      });
      await sse.send('content_block_stop', { type: 'content_block_stop', index });
      index += 1;
    }
    await sse.send('content_block_start', {
      type: 'content_block_start',
      index,
      content_block: { type: 'text', text: '' },
    });
    if (!plan.thinking) await sse.send('ping', { type: 'ping' });
    for (const word of plan.words) {
      if (await delta(index, { type: 'text_delta', text: word })) return;
    }
    if (await strikes()) return;
    await sse.send('content_block_stop', { type: 'content_block_stop', index });
    await sse.send('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: plan.stopReason, stop_sequence: null },
      usage: deltaUsage(usage, plan.outputTokens),
    });
    await sse.send('message_stop', { type: 'message_stop' });
    sse.end();
  } catch (err) {
    if (ex.signal.aborted) return; // the client went away (or the server is closing): nothing to answer
    throw err;
  }
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { SimApiError } from './api-error.ts';
import { handleControl } from './control.ts';
import { FaultBook, type FaultRule } from './faults.ts';
import { apiKeyOf, readJson, sendApiError, sendJson } from './http-util.ts';
import { newRequestId } from './ids.ts';
import { handleMessages, type MessagesDeps } from './messages-handler.ts';
import { resolveOptions, type SimulatorOptions } from './options.ts';
import { PromptCache } from './prompt-cache.ts';
import { RequestJournal } from './request-journal.ts';
import { type LoggedRequest, RequestLog } from './request-log.ts';
import { ThinkingSigner } from './signing.ts';
import { countTokensOf } from './validate.ts';

/** In-process access to the control API (the same operations as the `/__sim/` routes). */
export interface SimulatorControls {
  /** Same as `POST /__sim/faults`. */
  addFaults(rules: FaultRule[]): void;
  /** Same as `DELETE /__sim/faults`. */
  clearFaults(): void;
  /** Same as `POST /__sim/rotate-signing-key`. */
  rotateSigningKey(): void;
  /** Same as `GET /__sim/requests` (`full` adds the request bodies). */
  requests(opts?: { full?: boolean }): LoggedRequest[];
  /** Same as `DELETE /__sim/requests`. */
  clearRequests(): void;
}

/** A running simulator. */
export interface RunningSimulator extends SimulatorControls {
  /** Base URL to give the SDK as `baseURL`, e.g. `http://127.0.0.1:41234`. */
  url: string;
  port: number;
  /** Stops listening and destroys open connections (stalled streams included). */
  close(): Promise<void>;
}

/** A simulator built but not listening yet (building is separate from starting). */
export interface Simulator extends SimulatorControls {
  readonly server: Server;
  listen(): Promise<RunningSimulator>;
}

const ORGANIZATION_ID = '00000000-0000-4000-8000-00000000c1a0';

export function createSimulator(options: SimulatorOptions = {}): Simulator {
  const opts = resolveOptions(options);
  const logger = opts.logger;
  const signer = new ThinkingSigner(opts.signingKey);
  const faults = new FaultBook();
  const log = new RequestLog(opts.requestLogSize);
  const journal = opts.requestJournal ? new RequestJournal(opts.requestJournal) : undefined;
  const deps: MessagesDeps = {
    signer,
    cache: new PromptCache(opts.minCacheableTokens),
    faults,
    log,
    journal,
    logger,
    defaults: {
      seed: opts.seed,
      replyWords: opts.replyWords,
      thinkingWords: opts.thinkingWords,
      tokenDelayMs: opts.tokenDelayMs,
    },
    contextLimitTokens: opts.contextLimitTokens,
    maxOutputTokens: opts.maxOutputTokens,
  };

  const checkAuth = (req: IncomingMessage) => {
    const key = apiKeyOf(req);
    if (!key) throw new SimApiError('authentication_error', 'x-api-key header is required');
    if (opts.apiKey !== undefined && key !== opts.apiKey) {
      throw new SimApiError('authentication_error', 'invalid x-api-key');
    }
  };

  const route = async (req: IncomingMessage, res: ServerResponse, requestId: string, signal: AbortSignal) => {
    const url = new URL(req.url ?? '/', 'http://claude-sim');
    const method = req.method ?? 'GET';
    const readBody = () => readJson(req, opts.maxRequestBytes);
    if (method === 'POST' && url.pathname === '/v1/messages') {
      checkAuth(req);
      await handleMessages(await readBody(), { req, res, requestId, signal }, deps);
      return;
    }
    if (method === 'POST' && url.pathname === '/v1/messages/count_tokens') {
      checkAuth(req);
      sendJson(res, 200, { input_tokens: countTokensOf(await readBody()) });
      return;
    }
    if (await handleControl(method, url, readBody, res, { faults, log, signer })) return;
    throw new SimApiError('not_found_error', 'Not Found');
  };

  const server = createServer((req, res) => {
    const requestId = newRequestId();
    res.setHeader('request-id', requestId);
    res.setHeader('anthropic-organization-id', ORGANIZATION_ID);
    const closed = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) closed.abort();
    });
    route(req, res, requestId, closed.signal).catch((err: unknown) => {
      if (res.headersSent || closed.signal.aborted) {
        if (!(err instanceof SimApiError)) logger.error({ event: 'sim.request_failed', requestId, err });
        res.destroy();
        return;
      }
      if (err instanceof SimApiError) {
        logger.debug({ event: 'sim.request_rejected', requestId, status: err.status, type: err.type });
        sendApiError(res, err, requestId);
        return;
      }
      logger.error({ event: 'sim.request_failed', requestId, err });
      sendApiError(res, new SimApiError('api_error', 'Internal server error'), requestId);
    });
  });

  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });

  const controls: SimulatorControls = {
    addFaults: (rules) => {
      faults.add(rules);
    },
    clearFaults: () => faults.clear(),
    rotateSigningKey: () => signer.rotate(),
    requests: (o) => log.list(o?.full ?? false),
    clearRequests: () => log.clear(),
  };

  return {
    ...controls,
    server,
    listen: () =>
      new Promise<RunningSimulator>((resolve, reject) => {
        server.once('error', reject);
        server.listen(opts.port, opts.host, () => {
          server.off('error', reject);
          const { port } = server.address() as AddressInfo;
          const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
          resolve({ ...controls, url: `http://${host}:${port}`, port, close });
        });
      }),
  };
}

/** Builds a simulator and starts listening. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  return createSimulator(options).listen();
}

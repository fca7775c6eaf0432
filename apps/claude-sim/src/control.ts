import type { ServerResponse } from 'node:http';
import { invalidRequest } from './api-error.ts';
import { type FaultBook, faultRulesBodySchema } from './faults.ts';
import { sendJson } from './http-util.ts';
import type { RequestLog } from './request-log.ts';
import type { ThinkingSigner } from './signing.ts';

export interface ControlDeps {
  faults: FaultBook;
  log: RequestLog;
  signer: ThinkingSigner;
}

/**
 * The control API under `/__sim/`. Returns false when the route is not a control route.
 * `body` is read lazily: only routes that take one await it.
 */
export async function handleControl(
  method: string,
  url: URL,
  readBody: () => Promise<unknown>,
  res: ServerResponse,
  deps: ControlDeps,
): Promise<boolean> {
  const route = `${method} ${url.pathname}`;
  switch (route) {
    case 'GET /__sim/health':
      sendJson(res, 200, { ok: true });
      return true;
    case 'GET /__sim/faults':
      sendJson(res, 200, { rules: deps.faults.list() });
      return true;
    case 'POST /__sim/faults': {
      const parsed = faultRulesBodySchema.safeParse(await readBody());
      if (!parsed.success) throw invalidRequest(`invalid fault rules: ${parsed.error.message}`);
      sendJson(res, 200, { rules: deps.faults.add(parsed.data.rules) });
      return true;
    }
    case 'POST /__sim/faults/release':
      sendJson(res, 200, { released: deps.faults.release() });
      return true;
    case 'DELETE /__sim/faults':
      deps.faults.clear();
      sendJson(res, 200, { rules: [] });
      return true;
    case 'POST /__sim/rotate-signing-key':
      deps.signer.rotate();
      sendJson(res, 200, { rotated: true });
      return true;
    case 'GET /__sim/requests': {
      const full = ['1', 'true'].includes(url.searchParams.get('full') ?? '');
      sendJson(res, 200, { requests: deps.log.list(full) });
      return true;
    }
    case 'DELETE /__sim/requests':
      deps.log.clear();
      sendJson(res, 200, { requests: [] });
      return true;
    default:
      return false;
  }
}

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FaultRecord } from './faults.ts';

/** What the workers logged about the Claude rate gate, read from their logs after the run. */
export interface GateLog {
  /**
   * 429s by the API's request id: the worker that got it, when it logged the gate closed (epoch ms) and
   * when the close ran on the gate's Redis clock (epoch µs), or that it could not close it (Redis away).
   */
  limited: Map<string, { worker: string; closedAt?: number; closedAtUs?: number; closeFailed?: boolean }>;
  /** Requests held at the send because the gate had closed after they passed it. */
  heldAtSend: number;
  /** Workers SIGKILLed, with when (epoch ms). */
  kills: Array<{ worker: string; at: number }>;
}

interface LogLine {
  /** ISO time (the loggers' `isoTime`). */
  time?: string;
  event?: string;
  requestId?: string | null;
  status?: number | null;
  closedAtUs?: number;
}

/** Reads the workers' logs (`w<n>.log`) and the fault log of a run directory. */
export function readGateLog(dir: string): GateLog {
  const limited: GateLog['limited'] = new Map();
  let heldAtSend = 0;
  for (const file of readdirSync(dir).filter((f) => /^w\d+\.log$/.test(f))) {
    const worker = file.replace(/\.log$/, '');
    for (const raw of readFileSync(join(dir, file), 'utf8').split('\n')) {
      const line = parse(raw);
      if (!line?.event) continue;
      if (line.event === 'claude.send_held') heldAtSend++;
      if (!line.requestId) continue;
      if (line.event === 'claude.stream_failed' && line.status === 429 && !limited.has(line.requestId))
        limited.set(line.requestId, { worker });
      if (line.event === 'claude.rate_gate_closed' && line.time !== undefined)
        limited.set(line.requestId, {
          worker,
          closedAt: Date.parse(line.time),
          ...(typeof line.closedAtUs === 'number' ? { closedAtUs: line.closedAtUs } : {}),
        });
      if (line.event === 'claude.rate_gate_failed')
        limited.set(line.requestId, { worker, closeFailed: true });
    }
  }
  const faultLog = join(dir, 'faults.log');
  const kills = existsSync(faultLog)
    ? readFileSync(faultLog, 'utf8')
        .split('\n')
        .flatMap((l) => {
          const f = l.trim() ? (JSON.parse(l) as FaultRecord) : undefined;
          return f?.kind === 'worker-kill' && f.detail ? [{ worker: f.detail, at: Date.parse(f.time) }] : [];
        })
    : [];
  return { limited, heldAtSend, kills };
}

function parse(raw: string): LogLine | undefined {
  if (!raw.startsWith('{')) return undefined;
  try {
    return JSON.parse(raw) as LogLine;
  } catch {
    return undefined;
  }
}

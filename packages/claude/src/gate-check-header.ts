/**
 * The request header that says when a request passed its last rate-gate check and which gate generation
 * that check saw (`generation=<n>; at=<epoch ms>`). A worker adds it only when told to
 * (`CLAUDE_GATE_CHECK_HEADER`); the simulator records it, so a test can tell a request that was on its
 * way when the gate closed from one that went past a closed gate.
 */
export const GATE_CHECK_HEADER = 'x-turnstream-gate-check';

/** A request's last rate-gate check: the gate's generation it saw, and when (epoch ms, the worker's clock). */
export interface GateCheck {
  generation: number;
  at: number;
}

/** The header's value for `check`. */
export function formatGateCheck(check: GateCheck): string {
  return `generation=${check.generation}; at=${check.at}`;
}

const VALUE = /^generation=(\d+); at=(\d+)$/;

/** The check a header value carries; undefined when the value is absent or not in the header's format. */
export function parseGateCheck(value: string | undefined): GateCheck | undefined {
  const m = VALUE.exec(value?.trim() ?? '');
  return m ? { generation: Number(m[1]), at: Number(m[2]) } : undefined;
}

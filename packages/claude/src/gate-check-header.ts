/**
 * The request header that says when a request passed its last rate-gate check, on the clock of the Redis
 * server that holds the gate (`at-us=<epoch microseconds>`, its `TIME` in the check's script). A worker
 * adds it only when told to (`CLAUDE_GATE_CHECK_HEADER`); the simulator records it, so a test can order
 * the check against the gate's close (stamped by the same server, in the close's script) and tell a
 * request that was on its way when the gate closed from one that went past a closed gate.
 */
export const GATE_CHECK_HEADER = 'x-turnstream-gate-check';

/** A request's last rate-gate check: when it ran, epoch microseconds on the gate's Redis clock. */
export interface GateCheck {
  atUs: number;
}

/** The header's value for `check`. */
export function formatGateCheck(check: GateCheck): string {
  return `at-us=${check.atUs}`;
}

const VALUE = /^at-us=(\d{1,17})$/;

/** The check a header value carries; undefined when the value is absent or not in the header's format. */
export function parseGateCheck(value: string | undefined): GateCheck | undefined {
  const m = VALUE.exec(value?.trim() ?? '');
  return m ? { atUs: Number(m[1]) } : undefined;
}

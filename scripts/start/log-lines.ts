const LEVELS: Record<string, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/** One pino JSON line of a child as a short readable line (`[api] info api.start_completed ...`). */
export function formatLine(name: string, line: string): string {
  try {
    const o = JSON.parse(line) as Record<string, unknown>;
    const level = LEVELS[String(o.level)];
    const { level: _l, time: _t, pid: _p, hostname: _h, service: _s, msg, event, ...rest } = o;
    const extra = Object.entries(rest)
      .filter(([, v]) => v !== undefined && typeof v !== 'object')
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    return `[${name}] ${level ?? ''} ${event ?? ''} ${msg ?? ''} ${extra}`.replace(/\s+/g, ' ').trim();
  } catch {
    return `[${name}] ${line}`;
  }
}

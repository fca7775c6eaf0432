import { appendFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const file = process.env.TS_INSTR_FILE;
let buf: string[] = [];
export const nowMs = () => performance.timeOrigin + performance.now();
export function mark(label: string, id: string | undefined, t = nowMs()): void {
  if (!file) return;
  buf.push(`${label} ${id} ${t.toFixed(3)}\n`);
}
function flush(): void {
  if (!file || buf.length === 0) return;
  appendFileSync(file, buf.join(''));
  buf = [];
}
if (file) {
  setInterval(flush, 1000).unref();
  process.on('exit', flush);
}

/**
 * A preload (`--worker-node-arg=--import=<this file>`) that runs V8's sampling heap profiler in the
 * process, counting objects that were collected too (young and old generation), so the profile says
 * where the process allocates, not only what it still holds. The profile is written to
 * `$ALLOC_PROFILE_DIR/<pid>.heapprofile` when the process exits (open it in Chrome's DevTools, or
 * summarise it with `test/bench/alloc-summary.ts`). `ALLOC_PROFILE_AFTER_MS` starts sampling that
 * long after the process started (to leave start-up and warm-up out); `ALLOC_PROFILE_INTERVAL` is the
 * mean bytes between samples (default 16384).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.ALLOC_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  let startedAt = 0;
  const start = () => {
    startedAt = Date.now();
    session.post('HeapProfiler.startSampling', {
      samplingInterval: Number(process.env.ALLOC_PROFILE_INTERVAL ?? 16384),
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  };
  const after = Number(process.env.ALLOC_PROFILE_AFTER_MS ?? 0);
  if (after > 0) setTimeout(start, after).unref();
  else start();
  process.once('exit', () => {
    if (!startedAt) return;
    // An in-process session answers synchronously.
    session.post('HeapProfiler.stopSampling', (err, res) => {
      if (err) return;
      mkdirSync(dir, { recursive: true });
      const out = { ...res.profile, startedAt, endedAt: Date.now() };
      writeFileSync(join(dir, `${process.pid}.heapprofile`), JSON.stringify(out));
    });
  });
}

/**
 * Per-turn inventory of the saturation scenario: every Postgres statement (pg_stat_statements, this
 * run's database only) and every Redis command (commandstats, plus a MONITOR sample attributed to the
 * connection that sent it), divided by the turns run. Usage:
 * `node --import tsx test/bench/inventory.ts [--workers=1] [--concurrency=50] [--duration=8000] [--monitor=2000]`.
 */
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PUBLISH_LUA } from '@turnstream/streams';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { numberArg } from './lib/args.ts';
import { withBenchStack } from './lib/script.ts';
import type { TurnRunSummary } from './lib/turns.ts';
import { simContent } from './lib/turns.ts';
import { warmUp } from './scenarios/turn-runs.ts';

const concurrency = numberArg('concurrency', 50);
const durationMs = numberArg('duration', 8000);
const monitorMs = numberArg('monitor', 2000);
const workers = numberArg('workers', 1);

/** sha1 -> script name: BullMQ's scripts and the streams package's publish script. */
async function scriptNames(): Promise<Map<string, string>> {
  const sha = (lua: string) => createHash('sha1').update(lua).digest('hex');
  const names = new Map<string, string>([[sha(PUBLISH_LUA), 'turnstreams publish']]);
  const require = createRequire(join(process.cwd(), 'apps/worker/package.json'));
  const dir = join(dirname(require.resolve('bullmq')), 'scripts');
  for (const f of readdirSync(dir).filter((f) => /^[a-zA-Z]+-\d+\.js$/.test(f))) {
    const mod = (await import(join(dir, f))) as Record<string, { name: string; content: string }>;
    for (const v of Object.values(mod)) if (v?.content) names.set(sha(v.content), `bullmq ${v.name}`);
  }
  return names;
}
const shaNames = await scriptNames();

await withBenchStack({ workers }, async (ctx) => {
  const { stack, client } = ctx;
  await warmUp(ctx, concurrency);
  const admin = postgres(stack.tdb.url, { max: 1, onnotice: () => {} });
  await admin`create extension if not exists pg_stat_statements`;
  const [db] = await admin<{ oid: number }[]>`
      select oid from pg_database where datname = current_database()`;
  const oid = db!.oid;
  const redis = new Redis(stack.redis.url);
  const n = Math.ceil(concurrency + (durationMs / 1000) * 600);
  const conversationIds = await stack.seedConversations(n);
  const contents = conversationIds.map((_, i) => simContent(i, 40, 0));
  await admin`select pg_stat_statements_reset(0, ${oid}, 0)`;
  await redis.config('RESETSTAT');
  const names = new Map<string, string>();
  for (const line of ((await redis.client('LIST')) as string).split('\n')) {
    const addr = /addr=(\S+)/.exec(line)?.[1];
    const name = /name=(\S*)/.exec(line)?.[1];
    if (addr) names.set(addr, name || '(unnamed)');
  }
  const sample = new Map<string, number>();
  const monitor = await redis.monitor();
  let sampling = true;
  let script = '';
  const keyShape = (k: unknown) =>
    String(k)
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<id>')
      .replace(/:\d+(:|$)/g, ':<n>$1')
      .replace(stack.redisPrefix, '<p>');
  monitor.on('monitor', (_t: string, args: string[], source: string) => {
    if (!sampling) return;
    let cmd = args[0]!.toLowerCase();
    if (cmd === 'evalsha') cmd = `evalsha [${shaNames.get(args[1]!) ?? args[1]!.slice(0, 8)}]`;
    else if (cmd === 'eval') cmd = `eval [${args[1]!.trim().split('\n')[0]!.slice(0, 50)}]`;
    else cmd = `${cmd} ${keyShape(args[1])}`;
    let key: string;
    if (source === 'lua') key = `${script}\t    ${cmd}`;
    else {
      key = `${names.get(source) ?? source} | ${cmd}`;
      script = key;
    }
    sample.set(key, (sample.get(key) ?? 0) + 1);
  });
  setTimeout(() => {
    sampling = false;
  }, monitorMs);
  const run = await client.call<TurnRunSummary>('loop', {
    conversationIds,
    contents,
    concurrency,
    durationMs,
    turnTimeoutMs: 60_000,
  });
  monitor.disconnect();
  const turns = run.turns;
  console.log(`turns ${turns}, completed ${run.completed}, ${run.turnsPerSec}/s`);
  const statements = await admin<{ calls: number; rows: number; ms: number; query: string }[]>`
      select calls::int, rows::int, total_exec_time as ms, query from pg_stat_statements
      where dbid = ${oid} order by calls desc`;
  let totalCalls = 0;
  console.log('\n## Postgres (per turn: calls, rows, exec ms)');
  for (const s of statements) {
    totalCalls += s.calls;
    console.log(
      `${(s.calls / turns).toFixed(3)}\t${(s.rows / turns).toFixed(2)}\t${(s.ms / turns).toFixed(3)}\t${s.query.replace(/\s+/g, ' ').slice(0, 400)}`,
    );
  }
  console.log(`total statements per turn ${(totalCalls / turns).toFixed(2)}`);
  console.log('\n## Redis commandstats (per turn: calls, usec)');
  const info = await redis.info('commandstats');
  let totalCmds = 0;
  for (const m of info.matchAll(/cmdstat_(\S+):calls=(\d+),usec=(\d+)/g)) {
    totalCmds += Number(m[2]);
    console.log(`${(Number(m[2]) / turns).toFixed(3)}\t${(Number(m[3]) / turns).toFixed(1)}\t${m[1]}`);
  }
  console.log(`total commands per turn ${(totalCmds / turns).toFixed(2)}`);
  console.log(`\n## MONITOR sample (${monitorMs} ms, by connection | command; raw counts)`);
  const top = [...sample.entries()].filter(([k]) => !k.includes('\t')).sort((a, b) => b[1] - a[1]);
  for (const [k, v] of top) {
    console.log(`${v}\t${k}`);
    for (const [ik, iv] of sample)
      if (ik.startsWith(`${k}\t`)) console.log(`\t${iv}\t${ik.slice(k.length + 1)}`);
  }
  redis.disconnect();
  await admin.end();
});

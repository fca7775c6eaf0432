import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { schema } from '@turnstream/db';
import { createTestDatabase, seedTenant, type TestDatabase } from '@turnstream/db/testing';
import { freePort, RedisServer } from '@turnstream/testkit';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { historyExchange, historyMessages } from './history.ts';
import { type ProcessGroup, rssBytes } from './proc.ts';
import { AppProcess, poll, ROOT } from './process.ts';
import { type AppRuntime, appRuntime, DEFAULT_RUNTIME, type RuntimeName } from './runtime.ts';

export const MODEL = 'claude-sonnet-4-6';
/** Words of each assistant reply in a seeded history (the first-chunk scenario's replies are 40). */
export const HISTORY_WORDS = 40;

export interface StackOptions {
  /** Write V8 CPU profiles of the API and workers into this folder (`--cpu-prof`). */
  cpuProfileDir?: string;
  /** Print the apps' log lines. */
  echo?: boolean;
  /** Extra node flags of the workers (diagnostics, e.g. `--heapsnapshot-signal=SIGUSR2`). */
  workerNodeArgs?: string[];
  /** Run the image's bundled program or the apps' TypeScript under tsx (`DEFAULT_RUNTIME` when unset). */
  runtime?: RuntimeName;
}

/**
 * The system under test, started from the apps' entry points: a private redis-server, a database of
 * its own (cloned from the migrated template), the simulator, one API and N workers. `stop()` leaves
 * no process, database or key behind.
 */
export class BenchStack {
  /** A private redis-server on a free port, without persistence: measured alone, gone with no key left. */
  redis!: RedisServer;
  redisVersion = '';
  readonly redisPrefix = `tsb${randomBytes(3).toString('hex')}`;
  tdb!: TestDatabase;
  apiKey!: string;
  tenantId!: string;
  simUrl!: string;
  apiUrl!: string;
  sim!: AppProcess;
  api!: AppProcess;
  workers: AppProcess[] = [];
  postgresVersion = '';
  private monitor!: postgres.Sql;
  private workerSeq = 0;
  private profileTag = 'start';
  private runtime?: AppRuntime;

  constructor(private readonly opts: StackOptions = {}) {}

  /** What the apps run from: `image` or `source` (known once started). */
  get runtimeName(): RuntimeName {
    return this.runtime?.name ?? this.opts.runtime ?? DEFAULT_RUNTIME;
  }

  async start(): Promise<this> {
    this.runtime = appRuntime(this.opts.runtime ?? DEFAULT_RUNTIME, ROOT);
    this.redis = await RedisServer.start();
    const probe = new Redis(this.redis.url);
    this.redisVersion = /redis_version:(\S+)/.exec(await probe.info('server'))?.[1] ?? '';
    probe.disconnect();
    this.tdb = await createTestDatabase({ max: 4 });
    const seeded = await seedTenant(this.tdb.db, 'bench');
    this.apiKey = seeded.apiKey.key;
    this.tenantId = seeded.tenant.id;
    const [row] = await this.tdb.sql<{ v: string }[]>`select current_setting('server_version') as v`;
    this.postgresVersion = row!.v;
    this.monitor = postgres(this.tdb.url, { max: 1, onnotice: () => {} });
    const simPort = await freePort();
    this.sim = new AppProcess({
      name: 'sim',
      command: this.runtime.command('simulator'),
      env: { SIM_PORT: String(simPort), SIM_TOKEN_DELAY_MS: '0', SIM_REPLY_WORDS: '40', LOG_LEVEL: 'warn' },
      echo: this.opts.echo,
    });
    this.simUrl = `http://127.0.0.1:${simPort}`;
    const simUp = await poll(
      () =>
        fetch(`${this.simUrl}/__sim/health`).then(
          (r) => r.ok,
          () => false,
        ),
      60_000,
      100,
    );
    if (!simUp) throw new Error(`simulator did not start: ${JSON.stringify(this.sim.problems)}`);
    await this.startApi();
    return this;
  }

  private common(): Record<string, string> {
    return {
      DATABASE_URL: this.tdb.url,
      REDIS_URL: this.redis.url,
      REDIS_PREFIX: this.redisPrefix,
      BULL_PREFIX: `${this.redisPrefix}bull`,
      MIGRATE_ON_START: 'false',
      RUNTIME_STATS_INTERVAL_MS: '1000',
    };
  }

  private nodeArgs(name: string): string[] {
    if (!this.opts.cpuProfileDir) return [];
    // One folder per process: each thread (the main one, and under tsx its module-loader thread) writes its own file.
    const dir = `${this.opts.cpuProfileDir}/${this.profileTag}/${name}`;
    mkdirSync(dir, { recursive: true });
    return ['--cpu-prof', `--cpu-prof-dir=${dir}`];
  }

  /** Profiles of processes started from now on go to a subfolder named `tag`. */
  profileAs(tag: string): void {
    this.profileTag = tag;
  }

  async startApi(): Promise<void> {
    const port = await freePort();
    this.api = new AppProcess({
      name: 'api',
      command: this.runtime!.command('api'),
      env: {
        ...this.common(),
        PORT: String(port),
        HOST: '127.0.0.1',
        DB_POOL_MAX: '10',
        // One tenant posts thousands of messages a minute: no per-tenant message rate limit.
        TENANT_MESSAGES_PER_MINUTE: '1000000000',
      },
      nodeArgs: this.nodeArgs('api'),
      echo: this.opts.echo,
    });
    this.apiUrl = `http://127.0.0.1:${port}`;
    await this.api.waitForEvent('api.start_completed');
  }

  async restartApi(): Promise<void> {
    await this.api.stop();
    await this.startApi();
  }

  /** Replace the running workers with `count` fresh ones. */
  async setWorkers(count: number, concurrency: number, env: Record<string, string> = {}): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop(30_000)));
    this.workers = [];
    const started: AppProcess[] = [];
    for (let i = 0; i < count; i++) {
      const id = `w${++this.workerSeq}`;
      started.push(
        new AppProcess({
          name: id,
          command: this.runtime!.command('worker'),
          env: {
            ...this.common(),
            ANTHROPIC_API_KEY: 'sim-key',
            ANTHROPIC_BASE_URL: this.simUrl,
            WORKER_ID: id,
            WORKER_CONCURRENCY: String(concurrency),
            // The bench measures the engine with one tenant: no per-tenant running-turn limit.
            TENANT_MAX_RUNNING_TURNS: '1000000',
            ...env,
          },
          nodeArgs: [...this.nodeArgs(id), ...(this.opts.workerNodeArgs ?? [])],
          echo: this.opts.echo,
        }),
      );
    }
    await Promise.all(started.map((w) => w.waitForEvent('worker.start_completed')));
    this.workers = started;
  }

  /**
   * Conversations created straight in the database (setup, not measured): one per turn. With
   * `history`, each holds that many completed exchanges (`historyMessages`), as completed turns leave
   * them: user and assistant rows, a live transcript, the session pointing at it.
   */
  async seedConversations(n: number, history = 0): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i += 1000) {
      const rows = await this.tdb.db
        .insert(schema.conversations)
        .values(
          Array.from({ length: Math.min(1000, n - i) }, () => ({
            tenantId: this.tenantId,
            model: MODEL,
            lastSeq: 2 * history,
          })),
        )
        .returning({ id: schema.conversations.id });
      if (history > 0)
        await this.seedHistory(
          rows.map((r) => r.id),
          history,
        );
      else {
        await this.tdb.db
          .insert(schema.sessions)
          .values(rows.map((r) => ({ tenantId: this.tenantId, conversationId: r.id })));
      }
      for (const r of rows) ids.push(r.id);
    }
    return ids;
  }

  /** `turns` completed exchanges in each conversation, its transcript, and its session pointing there. */
  private async seedHistory(conversationIds: string[], turns: number): Promise<void> {
    const exchanges = Array.from({ length: turns }, (_, k) => historyExchange(k + 1, HISTORY_WORDS));
    const ids = JSON.stringify(conversationIds);
    const users = JSON.stringify(exchanges.map((e) => e.user));
    const replies = JSON.stringify(exchanges.map((e) => e.assistant));
    const transcript = JSON.stringify(historyMessages(turns, HISTORY_WORDS));
    const tenant = this.tenantId;
    await this.tdb.sql.begin(async (tx) => {
      await tx`
        insert into messages (tenant_id, conversation_id, seq, role, content, status, fence, completed_at)
        select ${tenant}::uuid, c.value::uuid, (2 * e.k - 1)::int, 'user', e.text, 'completed', e.k, now()
        from jsonb_array_elements_text(${ids}::jsonb) c,
          jsonb_array_elements_text(${users}::jsonb) with ordinality e(text, k)`;
      await tx`
        insert into messages
          (tenant_id, conversation_id, seq, role, content, status, reply_to, fence, stop_reason, completed_at)
        select u.tenant_id, u.conversation_id, u.seq + 1, 'assistant', ${replies}::jsonb ->> (u.seq / 2),
          'completed', u.id, u.fence, 'end_turn', now()
        from messages u
        where u.conversation_id in (select value::uuid from jsonb_array_elements_text(${ids}::jsonb))
          and u.role = 'user'`;
      await tx`
        insert into assistant_transcripts (id, tenant_id, conversation_id, model, messages, last_message_id)
        select 'asst_' || replace(gen_random_uuid()::text, '-', ''), u.tenant_id, u.conversation_id,
          ${MODEL}, ${transcript}::jsonb, u.id
        from messages u
        where u.conversation_id in (select value::uuid from jsonb_array_elements_text(${ids}::jsonb))
          and u.role = 'user' and u.seq = ${2 * turns - 1}`;
      await tx`
        insert into sessions (tenant_id, conversation_id, assistant_session_id, version, fence)
        select t.tenant_id, t.conversation_id, t.id, ${turns}, ${turns}
        from assistant_transcripts t
        where t.conversation_id in (select value::uuid from jsonb_array_elements_text(${ids}::jsonb))`;
    });
  }

  /**
   * Live transcripts holding exactly `messages` messages that were extended, not rebuilt from the
   * visible history (how many follow-ups appended to their seeded history: a rebuild's transcript has
   * the same length, but `rebuilt` set).
   */
  async transcriptsOfLength(messages: number): Promise<number> {
    const [row] = await this.monitor<{ n: number }[]>`
      select count(*)::int as n from assistant_transcripts
      where status = 'live' and not rebuilt and jsonb_array_length(messages) = ${messages}`;
    return row?.n ?? 0;
  }

  /** Postgres backends serving the apps (not the harness's own connections). */
  async backendPids(): Promise<number[]> {
    const rows = await this.monitor<{ pid: number }[]>`
      select pid from pg_stat_activity
      where datname = ${this.tdb.name} and application_name like 'turnstream-%'
        and application_name <> 'turnstream-test'`;
    return rows.map((r) => r.pid);
  }

  /** Process groups whose CPU the scenarios report. */
  groups(extra: ProcessGroup[] = []): ProcessGroup[] {
    return [
      { name: 'api', pids: () => [this.api.pid] },
      { name: 'worker', pids: () => this.workers.map((w) => w.pid), rss: true },
      { name: 'postgres', pids: () => this.backendPids() },
      { name: 'redis', pids: () => [this.redisPid] },
      { name: 'sim', pids: () => [this.sim.pid] },
      ...extra,
    ];
  }

  get redisPid(): number {
    return this.redis.proc.pid!;
  }

  workerRss(): number[] {
    return this.workers.map((w) => rssBytes(w.pid) ?? 0);
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.workers.map((w) => w.stop(30_000)), this.api?.stop()]);
    await this.sim?.stop();
    await this.monitor?.end({ timeout: 2 }).catch(() => undefined);
    await this.tdb?.drop().catch((err) => console.error(`could not drop ${this.tdb.name}: ${err}`));
    await this.redis?.stop();
    this.runtime?.close();
  }
}

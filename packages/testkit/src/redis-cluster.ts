import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { ManagedProcess } from './process.ts';
import { waitFor } from './wait.ts';

const run = promisify(execFile);

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * A free port whose cluster bus port (`port + 10000`) is free too; below the usual ephemeral range, so
 * the bus port stays a valid port.
 */
async function freeNodePort(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if (taken.has(port) || taken.has(port + 10_000)) continue;
    if ((await portFree(port)) && (await portFree(port + 10_000))) return port;
  }
  throw new Error('no free port pair for a cluster node');
}

export interface RedisClusterOptions {
  /** Masters (each with `replicas` replicas). Default 3. */
  masters?: number;
  /** Replicas per master. Default 1. */
  replicas?: number;
  /** `cluster-node-timeout`: how soon a dead master is failed over. Default 2000 ms. */
  nodeTimeoutMs?: number;
  /** The `redis-server` and `redis-cli` binaries (default from PATH). */
  binary?: string;
  cli?: string;
  echo?: boolean;
  readyTimeoutMs?: number;
}

/** One `redis-server` of the cluster. */
export interface ClusterNodeProcess {
  port: number;
  dir: string;
  proc: ManagedProcess;
}

/** A node's view of which node serves a slot. */
export interface SlotOwner {
  slot: number;
  port: number;
}

/**
 * A private Redis Cluster on loopback (three masters and three replicas by default), each node its own
 * `redis-server` on a free port with its own data directory, created with `redis-cli --cluster create`.
 * For tests that need a real cluster: failover (`killMasterOf` + `waitForFailover`), slot routing,
 * sharded pub/sub. `seeds` is what `REDIS_CLUSTER_NODES` takes.
 */
export class RedisCluster {
  readonly nodes: ClusterNodeProcess[] = [];

  private constructor(
    readonly root: string,
    private readonly opts: RedisClusterOptions,
  ) {}

  static async start(opts: RedisClusterOptions = {}): Promise<RedisCluster> {
    const cluster = new RedisCluster(mkdtempSync(join(tmpdir(), 'ts-redis-cluster-')), opts);
    try {
      await cluster.create();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Every node as `{ host, port }` (ioredis `Cluster` startup nodes). */
  get seeds(): Array<{ host: string; port: number }> {
    return this.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
  }

  /** `REDIS_CLUSTER_NODES` for the processes under test: `127.0.0.1:<port>,...`. */
  get seedList(): string {
    return this.seeds.map((s) => `${s.host}:${s.port}`).join(',');
  }

  /** Nodes whose process is running. */
  get live(): ClusterNodeProcess[] {
    return this.nodes.filter((n) => n.proc.running);
  }

  private async create(): Promise<void> {
    const masters = this.opts.masters ?? 3;
    const replicas = this.opts.replicas ?? 1;
    const count = masters * (1 + replicas);
    const taken = new Set<number>();
    for (let i = 0; i < count; i++) {
      const port = await freeNodePort(taken);
      taken.add(port).add(port + 10_000);
      this.nodes.push({
        port,
        dir: join(this.root, String(port)),
        proc: undefined as unknown as ManagedProcess,
      });
    }
    await Promise.all(this.nodes.map((n) => this.launch(n)));
    await run(
      this.opts.cli ?? 'redis-cli',
      [
        '--cluster',
        'create',
        ...this.nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ],
      { timeout: this.opts.readyTimeoutMs ?? 60_000 },
    );
    await this.waitUntilHealthy();
  }

  private async launch(node: ClusterNodeProcess): Promise<void> {
    mkdirSync(node.dir, { recursive: true });
    node.proc = new ManagedProcess({
      name: `redis-cluster:${node.port}`,
      command: this.opts.binary ?? 'redis-server',
      args: [
        '--port',
        String(node.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        node.dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--logfile',
        '',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-node-timeout',
        String(this.opts.nodeTimeoutMs ?? 2000),
        '--cluster-announce-ip',
        '127.0.0.1',
      ],
      ...(this.opts.echo ? { echo: true } : {}),
    });
    await node.proc.waitForLog(
      (l) => typeof l.msg === 'string' && l.msg.includes('Ready to accept connections'),
      this.opts.readyTimeoutMs ?? 20_000,
      'redis-server (cluster mode) ready',
    );
  }

  /** Run `fn` with a short-lived plain connection to one node. */
  async withNode<T>(port: number, fn: (redis: Redis) => Promise<T>): Promise<T> {
    const redis = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, lazyConnect: true });
    redis.on('error', () => {});
    try {
      await redis.connect();
      return await fn(redis);
    } finally {
      redis.disconnect();
    }
  }

  /**
   * `CLIENT KILL TYPE <type>` for each of `types` on every live node at once (the killing connection
   * spared), `rounds` times back to back: how many connections were killed, per type. Drops subscriber
   * connections (`pubsub`), or every other one (`normal`: also those still in their handshake, before
   * a SUBSCRIBE).
   */
  async killClients<T extends 'normal' | 'pubsub' | 'replica'>(
    types: readonly T[],
    rounds = 1,
  ): Promise<Record<T, number>> {
    const nodes = this.live.map((n) => new Redis({ host: '127.0.0.1', port: n.port, lazyConnect: true }));
    const killed = Object.fromEntries(types.map((t) => [t, 0])) as Record<T, number>;
    try {
      await Promise.all(nodes.map((r) => r.connect()));
      for (let round = 0; round < rounds; round++) {
        const counts = await Promise.all(
          nodes.map((r) =>
            Promise.all(types.map(async (t) => Number(await r.call('CLIENT', 'KILL', 'TYPE', t)))),
          ),
        );
        for (const [i, t] of types.entries()) killed[t] += counts.reduce((sum, c) => sum + c[i]!, 0);
      }
      return killed;
    } finally {
      for (const r of nodes) r.disconnect();
    }
  }

  /**
   * Drop every subscriber connection over and over: `times` times, once a connection in pub/sub mode is
   * back on some node (subscribed again), 50 rounds back to back of killing the pub/sub connections and
   * those still in their handshake (a new subscriber sends its SUBSCRIBE once ready) on every node.
   * Most of the resubscribes sent meanwhile are lost with their connections. Returns how many pub/sub
   * connections were killed.
   */
  async churnSubscribers(times = 5): Promise<number> {
    let killed = 0;
    for (let i = 0; i < times; i++) {
      await waitFor(() => this.pubsubClientNode(''), {
        message: `a subscriber connection back after ${i} rounds of kills`,
      });
      killed += (await this.killClients(['pubsub', 'normal'], 50)).pubsub;
    }
    return killed;
  }

  /**
   * The port of the live node holding a connection in pub/sub mode whose name contains `name` (any, for
   * `''`), or null.
   */
  async pubsubClientNode(name: string): Promise<number | null> {
    for (const node of this.live) {
      const list = String(await this.withNode(node.port, (r) => r.call('CLIENT', 'LIST', 'TYPE', 'pubsub')));
      if (list.trim() !== '' && list.includes(name)) return node.port;
    }
    return null;
  }

  /**
   * Resolves once every live node reports `cluster_state:ok`, knows every live node, and every slot has
   * a running master with its replicas' links up.
   */
  async waitUntilHealthy(timeoutMs = this.opts.readyTimeoutMs ?? 60_000): Promise<void> {
    await waitFor(
      async () => {
        for (const node of this.live) {
          const ok = await this.withNode(node.port, async (r) => {
            const info = String(await r.cluster('INFO'));
            if (!info.includes('cluster_state:ok')) return false;
            const replication = await r.info('replication');
            if (replication.includes('role:slave') && !replication.includes('master_link_status:up')) {
              return false;
            }
            return true;
          });
          if (!ok) return false;
        }
        const owners = await this.slotOwners();
        return owners.every((port) => this.nodes.find((n) => n.port === port)?.proc.running);
      },
      { timeoutMs, intervalMs: 100, message: 'the Redis Cluster to be healthy' },
    );
  }

  /** The port of the master serving each slot range, as a live node sees it. */
  private async slotOwners(): Promise<number[]> {
    const slots = await this.withNode(this.live[0]!.port, (r) => r.cluster('SLOTS'));
    return slots.map((range) => Number(range[2]?.[1]));
  }

  /** The hash slot of `key` (`CLUSTER KEYSLOT`). */
  keySlot(key: string): Promise<number> {
    return this.withNode(this.live[0]!.port, async (r) => Number(await r.cluster('KEYSLOT', key)));
  }

  /** Which node serves `slot` now, as the first live node sees it. */
  async masterOfSlot(slot: number): Promise<SlotOwner> {
    const slots = await this.withNode(this.live[0]!.port, (r) => r.cluster('SLOTS'));
    const range = slots.find(([from, to]) => slot >= from && slot <= to);
    if (!range?.[2]) throw new Error(`slot ${slot} is served by no node`);
    return { slot, port: Number(range[2][1]) };
  }

  /** The master serving `key` now. */
  async masterOf(key: string): Promise<SlotOwner> {
    return this.masterOfSlot(await this.keySlot(key));
  }

  /** SIGKILL the master serving `key` (its replica is promoted after `nodeTimeoutMs`). */
  async killMasterOf(key: string): Promise<SlotOwner> {
    const owner = await this.masterOf(key);
    await this.killNode(owner.port);
    return owner;
  }

  /** SIGKILL the node on `port` (a master's replica is promoted after `nodeTimeoutMs`). */
  async killNode(port: number): Promise<void> {
    const node = this.nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no node on port ${port}`);
    await node.proc.kill();
  }

  /**
   * Resolves once `killed.slot` is served by another node than `killed.port` (a replica was promoted)
   * and the cluster is healthy again. Returns the new owner.
   */
  async waitForFailover(killed: SlotOwner, timeoutMs = 30_000): Promise<SlotOwner> {
    const owner = await waitFor(
      async () => {
        const now = await this.masterOfSlot(killed.slot);
        return now.port !== killed.port ? now : null;
      },
      { timeoutMs, intervalMs: 100, message: `a replica to take over slot ${killed.slot}` },
    );
    await this.waitUntilHealthy(timeoutMs);
    return owner;
  }

  /** Start a stopped node again on its port and data (it rejoins; a former master comes back as a replica). */
  async restart(port: number): Promise<void> {
    const node = this.nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no node on port ${port}`);
    if (node.proc.running) return;
    await this.launch(node);
  }

  /** Stop every node and delete every data directory. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.proc?.stop(5_000)));
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** Start a private Redis Cluster (see {@link RedisCluster}). */
export function startRedisCluster(opts: RedisClusterOptions = {}): Promise<RedisCluster> {
  return RedisCluster.start(opts);
}

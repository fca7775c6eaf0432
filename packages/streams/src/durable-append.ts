/// <reference path="./cluster-key-slot.d.ts" />
import { createHash } from 'node:crypto';
import { isCluster, type RedisClient } from '@turnstream/config';
import calculateSlot from 'cluster-key-slot';
import type { PublishReply } from './publish-script.ts';

/** How a publish waits for replicas before its batch is released (see `TurnStreamsOptions`). */
export interface ReplicationWait {
  /** Replicas that must acknowledge a batch (`WAIT numreplicas`); more than 0. */
  replicas: number;
  /** `WAIT` timeout, in milliseconds; more than 0. */
  timeoutMs: number;
  /** Called when `WAIT` timed out with fewer replicas than asked (the batches are released anyway). */
  onShort?: (short: ReplicationShort) => void;
}

/** A `WAIT` that timed out short. */
export interface ReplicationShort {
  /** The log key of one of the conversations it covered (on a Cluster, names the master's slots). */
  log: string;
  /** Appends the `WAIT` covered. */
  batches: number;
  asked: number;
  acknowledged: number;
}

/**
 * Errors after which an append (idempotent per batch) is sent again: failover, redirection, restart,
 * and a connection that closed after the append's reply but before the `WAIT`'s (the client aborts the
 * rest of such a pipeline: "Command aborted due to connection close").
 */
const TRANSIENT =
  /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN|LOADING|READONLY|MASTERDOWN)\b|Connection is closed|Command aborted due to connection close|ECONNRESET|ECONNREFUSED|EPIPE|same slots allocation group/;
/** Retry spacing and budget, as the Cluster connections' own failover retries (packages/config). */
const RETRY_DELAY_MS = 300;
const RETRY_FOR_MS = 20_000;

interface Pending {
  keys: string[];
  args: string[];
  started: number;
  /** Send the script's body (`EVAL`): the node answered `NOSCRIPT`. */
  withBody: boolean;
  resolve: (reply: PublishReply) => void;
  reject: (error: unknown) => void;
}

/**
 * Appends batches (the publish script, append only) and waits for replicas with `WAIT`, group-commit
 * style: the appends waiting for conversations on one master go in one pipeline followed by one
 * `WAIT`, which counts the replicas that acknowledged every write of that connection so far, these
 * appends among them. `WAIT` blocks its connection (every command of the process to that master)
 * until it returns, so one pipeline per master is in flight at a time: appends made meanwhile wait and
 * go together in the next one. Other commands on the connection wait at most one replica round trip
 * (or `timeoutMs` while a replica lags).
 *
 * When the answer does not say a batch reached a replica (the connection dropped, the master failed
 * over, a redirection), the batch is sent again: its marker makes the repeat of an append that
 * survived return its ids and append nothing, and an append lost with its master is made again on the
 * new one. `EVALSHA` first; on `NOSCRIPT`, `EVAL` in the next pipeline, so that its `WAIT` always
 * follows the append on the wire.
 */
export class DurableAppender {
  private queue: Pending[] = [];
  private scheduled = false;
  /** Masters with a pipeline in flight: one at a time each, so at most one `WAIT` blocks a connection. */
  private readonly busy = new Set<string>();
  /** Per master, the replicas connected to it at its last append. */
  private readonly connected = new Map<string, number>();
  private readonly sha: string;

  constructor(
    private readonly redis: RedisClient,
    private readonly lua: string,
    private readonly wait: ReplicationWait,
  ) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /** Appends one batch (`keys[0]` is its log); resolves once the replicas have it, or the wait timed out. */
  append(keys: string[], args: string[]): Promise<PublishReply> {
    return new Promise((resolve, reject) => {
      this.enqueue({ keys, args, started: Date.now(), withBody: false, resolve, reject });
    });
  }

  private enqueue(pending: Pending): void {
    this.queue.push(pending);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Sends what waits, one pipeline per master without one in flight (grouped by the slot table now). */
  private flush(): void {
    this.scheduled = false;
    const groups = new Map<string, Pending[]>();
    const held: Pending[] = [];
    for (const pending of this.queue.splice(0)) {
      const node = this.masterOf(pending.keys[0]!);
      if (this.busy.has(node)) {
        held.push(pending);
        continue;
      }
      const group = groups.get(node);
      if (group) group.push(pending);
      else groups.set(node, [pending]);
    }
    this.queue = held;
    for (const [node, group] of groups) {
      this.busy.add(node);
      void this.send(node, group).finally(() => {
        this.busy.delete(node);
        this.schedule();
      });
    }
  }

  /** The master serving `key` as the Cluster's slot table has it (one group on a single server). */
  private masterOf(key: string): string {
    if (!isCluster(this.redis)) return '';
    return this.redis.slots[calculateSlot(key)]?.[0] ?? '';
  }

  /**
   * The replicas to wait for on `node`: at most as many as it said it had connected at its last append
   * (after a failover the promoted replica has none until one is added: waiting for one would only time
   * out, holding its connection each time, and without a connected replica no failover can hand the
   * slot to a copy missing the batch, short of one that lost its link moments before). A master not
   * heard from yet: as asked.
   */
  private replicasFor(node: string): number {
    const connected = this.connected.get(node);
    return connected === undefined ? this.wait.replicas : Math.min(this.wait.replicas, connected);
  }

  private async send(node: string, group: Pending[]): Promise<void> {
    const asked = this.replicasFor(node);
    const pipeline = this.redis.pipeline();
    for (const p of group) {
      if (p.withBody) pipeline.eval(this.lua, p.keys.length, ...p.keys, ...p.args);
      else pipeline.evalsha(this.sha, p.keys.length, ...p.keys, ...p.args);
    }
    if (asked > 0) pipeline.wait(asked, this.wait.timeoutMs);
    let results: [Error | null, unknown][];
    try {
      results = (await pipeline.exec()) ?? [];
    } catch (error) {
      results = [];
      for (const p of group) this.retryOrReject(p, error as Error);
      return;
    }
    const [waitError, acknowledged] =
      asked > 0 ? (results[group.length] ?? [new Error('no WAIT reply')]) : [null, 0];
    let released = 0;
    for (const [i, p] of group.entries()) {
      const [error, reply] = results[i] ?? [new Error('Connection is closed.'), null];
      if (error || waitError) {
        this.retryOrReject(p, (error ?? waitError)!);
        continue;
      }
      released++;
      const written = reply as PublishReply;
      if (typeof written[2] === 'number') this.connected.set(node, written[2]);
      p.resolve(written);
    }
    if (released > 0 && (acknowledged as number) < asked) {
      this.wait.onShort?.({
        log: group[0]!.keys[0]!,
        batches: released,
        asked,
        acknowledged: acknowledged as number,
      });
    }
  }

  private retryOrReject(p: Pending, error: Error): void {
    if (/^NOSCRIPT/.test(error.message) && !p.withBody) {
      p.withBody = true;
      this.enqueue(p);
      return;
    }
    if (!TRANSIENT.test(error.message) || Date.now() - p.started > RETRY_FOR_MS) {
      p.reject(error);
      return;
    }
    if (isCluster(this.redis)) this.redis.refreshSlotsCache();
    setTimeout(() => this.enqueue(p), RETRY_DELAY_MS);
  }
}

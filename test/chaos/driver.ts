import { randomUUID } from 'node:crypto';
import { scopedMessageId, TurnsClient } from '@turnstream/contracts';
import { type SeededRandom, sleepMs } from '@turnstream/testkit';
import type { ChaosCluster } from './cluster.ts';
import { ConversationFollower } from './follower.ts';
import type { ConversationPlan, MessagePlan } from './plan.ts';

/** A message the load sent, and what the load did to it. */
export interface SentMessage {
  id: string;
  conversationId: string;
  conversation: ConversationPlan;
  plan: MessagePlan;
  /** Resets of its conversation done before it was sent. */
  epoch: number;
  /** Tries until the API answered 202 (or the enqueue succeeded). */
  tries: number;
  /** The cancel's answer: HTTP status and `status` (`cancelled`, `cancelling`) or error code. */
  cancel?: { status: number; answer: string };
  /** Its turn had not ended when its conversation was reset. */
  inflightAtReset?: boolean;
}

export interface ResetRecord {
  conversationId: string;
  status: number;
  answer: string;
  /** Tags of the messages sent before the reset. */
  before: string[];
}

/** The API refused a request for good (a 4xx): the load itself is wrong, retrying cannot help. */
class Refused extends Error {
  override name = 'Refused';
}

/** Per-message waits: a turn that shows nothing over SSE for this long is left to the checks. */
const TURN_WAIT_MS = 120_000;
const SEND_TRIES = 40;

/**
 * Drives the planned conversations through the API (and TurnsClient for direct ones), a window of them
 * at a time, each followed over SSE like a client would; cancels and resets where the plan says.
 */
export class LoadDriver {
  readonly sent: SentMessage[] = [];
  readonly resets: ResetRecord[] = [];
  readonly followers = new Map<string, ConversationFollower>();
  /** Turns whose terminal event the SSE client did not see within TURN_WAIT_MS while pacing. */
  sseTimeouts = 0;
  /** Sends that had to be retried (the API or Redis was down for a moment). */
  retriedSends = 0;
  private readonly total: number;
  private readonly turns: TurnsClient;

  constructor(
    private readonly cluster: ChaosCluster,
    private readonly plans: ConversationPlan[],
    private readonly rnd: SeededRandom,
    private readonly window: number,
  ) {
    this.total = plans.reduce((n, c) => n + c.messages.length, 0);
    this.turns = new TurnsClient({
      connection: { host: '127.0.0.1', port: cluster.redis.port, maxRetriesPerRequest: null },
      prefix: cluster.sys.bullPrefix,
    });
  }

  /** Share of the planned messages sent so far (the fault schedule follows it). */
  progress(): number {
    return this.sent.length / this.total;
  }

  async run(): Promise<void> {
    const queue = [...this.plans];
    const lane = async () => {
      for (let c = queue.shift(); c; c = queue.shift()) await this.runConversation(c);
    };
    await Promise.all(Array.from({ length: this.window }, lane));
  }

  private async runConversation(plan: ConversationPlan): Promise<void> {
    const sys = this.cluster.sys;
    const created = await this.retry('create conversation', async () => {
      const res = await sys.api('POST', '/v1/conversations', {
        title: `chaos ${plan.index}`,
        ...(plan.thinking ? { thinking: { budgetTokens: 1024 } } : {}),
      });
      return res.status === 201 ? (res.body.id as string) : null;
    });
    const conversationId = created.value;
    const follower = new ConversationFollower(
      `${sys.apis[plan.index % sys.apis.length]!.url}/v1/conversations/${conversationId}/events`,
      sys.apiKey,
    );
    this.followers.set(conversationId, follower);
    let epoch = 0;
    const mine: SentMessage[] = [];
    for (const m of plan.messages) {
      const sent = await this.send(plan, conversationId, m, epoch);
      mine.push(sent);
      if (m.cancel) await this.cancel(follower, sent);
      if (m.resetWhileStreaming) {
        await this.reset(follower, sent, mine);
        epoch++;
      }
      if (!m.burst) {
        const end = await follower.terminal(sent.id, TURN_WAIT_MS);
        if (!end) this.sseTimeouts++;
        await sleepMs(this.rnd.int(0, 300)); // a user reading the reply
      }
    }
  }

  private async send(
    plan: ConversationPlan,
    conversationId: string,
    m: MessagePlan,
    epoch: number,
  ): Promise<SentMessage> {
    const sys = this.cluster.sys;
    // Direct enqueues choose the message id; through the API the server assigns it, and every retry
    // of the post carries the same idempotency key, so a post whose answer was lost is not stored twice.
    const key = randomUUID();
    const { value: id, tries } = await this.retry(`send ${m.tag}`, async () => {
      if (plan.channel === 'direct') {
        await this.turns.enqueue({
          tenantId: sys.tenantId,
          conversationId,
          messageId: key,
          content: m.content,
          mode: 'stream',
        });
        return key;
      }
      const res = await sys.api(
        'POST',
        `/v1/conversations/${conversationId}/messages`,
        { content: m.content, idempotencyKey: key },
        plan.index % sys.apis.length,
      );
      if (res.status >= 400 && res.status < 500)
        throw new Refused(`${m.tag}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.status === 202 ? (res.body.messageId as string) : null;
    });
    // A directly enqueued message is stored under the producer's id scoped to the tenant.
    const storedId = plan.channel === 'direct' ? scopedMessageId(sys.tenantId, id) : id;
    const sent: SentMessage = { id: storedId, conversationId, conversation: plan, plan: m, epoch, tries };
    this.sent.push(sent);
    return sent;
  }

  private async cancel(follower: ConversationFollower, sent: SentMessage): Promise<void> {
    if (sent.plan.cancel === 'streaming') {
      await follower.waitFor(sent.id, (e) => e.type === 'chunk', TURN_WAIT_MS);
    }
    const res = await this.cluster.sys.api(
      'POST',
      `/v1/conversations/${sent.conversationId}/messages/${sent.id}/cancel`,
    );
    sent.cancel = { status: res.status, answer: String(res.body?.status ?? res.body?.code ?? '') };
  }

  private async reset(follower: ConversationFollower, sent: SentMessage, mine: SentMessage[]): Promise<void> {
    await follower.waitFor(sent.id, (e) => e.type === 'chunk', TURN_WAIT_MS);
    const ended = follower
      .events(sent.id)
      .some((e) => ['turn.completed', 'turn.failed', 'turn.cancelled'].includes(e.type));
    sent.inflightAtReset = !ended;
    // As a client would: a 503 (the API's database connection cut by a fault) changed nothing; send it again.
    const { value: res } = await this.retry('reset', async () => {
      const answer = await this.cluster.sys.api('POST', `/v1/conversations/${sent.conversationId}/reset`, {});
      return answer.status === 503 ? null : answer;
    });
    this.resets.push({
      conversationId: sent.conversationId,
      status: res.status,
      answer: String(res.body?.code ?? 'ok'),
      before: mine.map((s) => s.plan.tag),
    });
  }

  /** Call `attempt` until it returns a value (null/false = not accepted, a throw from fetch = down). */
  private async retry<T>(
    what: string,
    attempt: () => Promise<T | null | false>,
  ): Promise<{ value: T; tries: number }> {
    let last: unknown;
    for (let tries = 1; tries <= SEND_TRIES; tries++) {
      try {
        const value = await attempt();
        if (value !== null && value !== false) return { value, tries };
      } catch (err) {
        if (err instanceof Refused) throw err;
        last = err;
      }
      this.retriedSends++;
      await sleepMs(100 * tries);
    }
    throw new Error(`${what}: not accepted after ${SEND_TRIES} tries`, { cause: last });
  }

  async close(): Promise<void> {
    await Promise.all([...this.followers.values()].map((f) => f.close()));
    await this.turns.close();
  }
}

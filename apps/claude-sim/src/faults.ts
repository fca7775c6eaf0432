import { z } from 'zod';

/** Faults that answer with an error status before any byte of the response body. */
export const STATUS_FAULTS = [
  'overloaded',
  'rate_limited',
  'server_error',
  'auth',
  'invalid_request',
  'permission',
  'billing',
  'not_found',
  'request_too_large',
] as const;

/** Faults that strike a streaming response after `afterChunks` content deltas. */
export const MIDSTREAM_FAULTS = ['overloaded_midstream', 'disconnect_midstream', 'stall'] as const;

export type StatusFault = (typeof STATUS_FAULTS)[number];
export type MidstreamFault = (typeof MIDSTREAM_FAULTS)[number];
export type FaultName = StatusFault | MidstreamFault;

export const faultRuleSchema = z.object({
  fault: z.enum([...STATUS_FAULTS, ...MIDSTREAM_FAULTS]),
  /** How many matching requests it strikes; unlimited when absent. */
  times: z.number().int().positive().optional(),
  match: z
    .object({
      /** The last user message's text contains this string. */
      contains: z.string().optional(),
      /** The request carries at least this many messages. */
      minMessages: z.number().int().nonnegative().optional(),
    })
    .optional(),
  /** rate_limited: value of `retry-after-ms` (and `retry-after`, rounded up to seconds). Default 1000. */
  retryAfterMs: z.number().int().nonnegative().optional(),
  /** Midstream faults: number of content deltas sent before the fault. Default 0. */
  afterChunks: z.number().int().nonnegative().optional(),
  /** Status faults: replaces the error message. */
  message: z.string().optional(),
  /** Status faults: adds `error.details.error_code` (e.g. `enforced_spend_limit_reached`). */
  errorCode: z.string().optional(),
  /**
   * Status faults: the answer waits until `POST /__sim/faults/release` (the request is logged at once),
   * so a test can act while a request is in flight, then let it fail.
   */
  held: z.boolean().optional(),
});

export const faultRulesBodySchema = z.object({ rules: z.array(faultRuleSchema).min(1) });

export type FaultRule = z.infer<typeof faultRuleSchema>;

/** A rule as kept by the simulator, with the strikes left. */
export interface ActiveFaultRule extends FaultRule {
  id: number;
  remaining: number | null;
}

/** What a request looks like to the fault matcher. */
export interface FaultTarget {
  lastUserText: string;
  messageCount: number;
}

/** The active fault rules; the first matching rule with strikes left applies, and is consumed. */
export class FaultBook {
  #rules: ActiveFaultRule[] = [];
  #nextId = 1;
  readonly #held = new Set<() => void>();

  /** Wait until `release()` (or until `signal` aborts: the client went away). */
  hold(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#held.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.#held.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Let every held answer go; returns how many were held. */
  release(): number {
    const held = [...this.#held];
    for (const done of held) done();
    return held.length;
  }

  add(rules: FaultRule[]): ActiveFaultRule[] {
    for (const rule of rules) {
      this.#rules.push({ ...rule, id: this.#nextId++, remaining: rule.times ?? null });
    }
    return this.list();
  }

  clear(): void {
    this.#rules = [];
  }

  list(): ActiveFaultRule[] {
    return this.#rules.map((rule) => ({ ...rule }));
  }

  /**
   * Returns the rule that strikes this request (consuming one of its strikes), if any. Rules that
   * `eligible` refuses are skipped (midstream faults skip requests that fail validation).
   */
  take(
    target: FaultTarget,
    eligible: (rule: FaultRule) => boolean = () => true,
  ): ActiveFaultRule | undefined {
    const rule = this.#rules.find((r) => eligible(r) && matches(r, target));
    if (!rule) return undefined;
    if (rule.remaining !== null) {
      rule.remaining -= 1;
      if (rule.remaining <= 0) this.#rules = this.#rules.filter((r) => r !== rule);
    }
    return { ...rule };
  }
}

function matches(rule: ActiveFaultRule, target: FaultTarget): boolean {
  const { contains, minMessages } = rule.match ?? {};
  if (contains !== undefined && !target.lastUserText.includes(contains)) return false;
  if (minMessages !== undefined && target.messageCount < minMessages) return false;
  return true;
}

export function isMidstreamFault(fault: FaultName): fault is MidstreamFault {
  return (MIDSTREAM_FAULTS as readonly string[]).includes(fault);
}

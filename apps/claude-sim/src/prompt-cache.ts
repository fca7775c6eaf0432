import { createHash } from 'node:crypto';
import {
  countBlockTokens,
  countTextTokens,
  MESSAGE_OVERHEAD,
  REQUEST_OVERHEAD,
  SYSTEM_OVERHEAD,
} from './tokens.ts';

/**
 * Prompt caching as the API does it, reduced to its bookkeeping: the request is a sequence of blocks
 * (tools, then system, then messages); a block with `cache_control` is a breakpoint; the prefix up to
 * a breakpoint is written to the cache (when it is at least `minCacheableTokens` long) and read back
 * by a later request whose prefix matches, found at a breakpoint or up to 20 blocks before one.
 */

const LOOKBACK_BLOCKS = 20;
const TTL_MS = { '5m': 5 * 60_000, '1h': 60 * 60_000 } as const;
type Ttl = keyof typeof TTL_MS;

export interface CacheUsage {
  cacheReadInputTokens: number;
  cacheCreationInputTokens: number;
  ephemeral5mInputTokens: number;
  ephemeral1hInputTokens: number;
}

interface Position {
  hash: string;
  /** Input tokens of the prefix ending with this block. */
  cumulative: number;
  ttl: Ttl | null;
}

type Block = Record<string, unknown>;

function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([key, v]) => key !== 'cache_control' && v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function ttlOf(block: unknown): Ttl | null {
  const control = (block as Block | null)?.cache_control as { type?: string; ttl?: string } | undefined;
  if (control?.type !== 'ephemeral') return null;
  return control.ttl === '1h' ? '1h' : '5m';
}

function asBlocks(content: unknown): Block[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  return Array.isArray(content) ? (content as Block[]) : [];
}

/** The request's blocks in cache order, each with its prefix hash, prefix tokens and breakpoint TTL. */
export function cachePositions(body: Record<string, unknown>): Position[] {
  const positions: Position[] = [];
  let hash = createHash('sha256')
    .update(`model:${String(body.model)}`)
    .digest('hex');
  let cumulative = REQUEST_OVERHEAD;
  const push = (canonical: string, tokens: number, ttl: Ttl | null) => {
    hash = createHash('sha256').update(hash).update(canonical).digest('hex');
    cumulative += tokens;
    positions.push({ hash, cumulative, ttl });
  };

  const tools = Array.isArray(body.tools) ? (body.tools as Block[]) : [];
  if (tools.length > 0) {
    const ttl = tools.map(ttlOf).find((t) => t !== null) ?? null;
    push(`tools:${stableStringify(tools)}`, countTextTokens(JSON.stringify(tools)), ttl);
  }
  const system = body.system;
  if (system !== undefined && system !== null && system !== '') {
    asBlocks(system).forEach((block, i) => {
      const tokens = countBlockTokens(block) + (i === 0 ? SYSTEM_OVERHEAD : 0);
      push(`system:${stableStringify(block)}`, tokens, ttlOf(block));
    });
  }
  const messages = Array.isArray(body.messages) ? (body.messages as Block[]) : [];
  messages.forEach((message, m) => {
    asBlocks(message.content).forEach((block, i) => {
      const tokens = countBlockTokens(block) + (i === 0 ? MESSAGE_OVERHEAD : 0);
      push(`m${m}:${String(message.role)}:${stableStringify(block)}`, tokens, ttlOf(block));
    });
  });
  return positions;
}

export class PromptCache {
  readonly #entries = new Map<string, { expiresAt: number; ttl: Ttl }>();
  readonly #minCacheableTokens: number;
  readonly #now: () => number;

  constructor(minCacheableTokens: number, now: () => number = Date.now) {
    this.#minCacheableTokens = minCacheableTokens;
    this.#now = now;
  }

  /** Looks the request up in the cache, writes its breakpoints, and returns the cache usage. */
  apply(body: Record<string, unknown>): CacheUsage {
    const usage: CacheUsage = {
      cacheReadInputTokens: 0,
      cacheCreationInputTokens: 0,
      ephemeral5mInputTokens: 0,
      ephemeral1hInputTokens: 0,
    };
    const positions = cachePositions(body);
    const now = this.#now();
    this.#prune(now);

    let read = 0;
    positions.forEach((position, index) => {
      if (position.ttl === null) return;
      for (let j = index; j >= Math.max(0, index - LOOKBACK_BLOCKS); j--) {
        const candidate = positions[j];
        if (!candidate) continue;
        const entry = this.#entries.get(candidate.hash);
        if (entry && entry.expiresAt > now) {
          entry.expiresAt = now + TTL_MS[entry.ttl];
          read = Math.max(read, candidate.cumulative);
          break;
        }
      }
    });
    usage.cacheReadInputTokens = read;

    let written = read;
    for (const position of positions) {
      if (position.ttl === null || position.cumulative < this.#minCacheableTokens) continue;
      if (!this.#entries.has(position.hash)) {
        this.#entries.set(position.hash, { expiresAt: now + TTL_MS[position.ttl], ttl: position.ttl });
      }
      if (position.cumulative > written) {
        const tokens = position.cumulative - written;
        usage.cacheCreationInputTokens += tokens;
        if (position.ttl === '1h') usage.ephemeral1hInputTokens += tokens;
        else usage.ephemeral5mInputTokens += tokens;
        written = position.cumulative;
      }
    }
    return usage;
  }

  clear(): void {
    this.#entries.clear();
  }

  #prune(now: number): void {
    if (this.#entries.size < 10_000) return;
    for (const [hash, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(hash);
  }
}

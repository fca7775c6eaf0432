/**
 * Deterministic reply and thinking text: words drawn from a seeded PRNG over a small vocabulary,
 * seeded by (simulator seed, hash of the last user message text). Same request, same seed: same reply.
 */

const VOCABULARY = [
  'the',
  'a',
  'stream',
  'worker',
  'queue',
  'message',
  'turn',
  'reply',
  'session',
  'token',
  'context',
  'signal',
  'lease',
  'fence',
  'retry',
  'backoff',
  'chunk',
  'event',
  'replica',
  'fleet',
  'history',
  'transcript',
  'cache',
  'prompt',
  'model',
  'answer',
  'question',
  'river',
  'mountain',
  'lantern',
  'harbor',
  'garden',
  'window',
  'morning',
  'quiet',
  'bright',
  'steady',
  'simple',
  'careful',
  'gentle',
  'clear',
  'small',
  'large',
  'early',
  'later',
  'always',
  'often',
  'then',
  'and',
  'but',
  'so',
  'with',
  'from',
  'into',
  'over',
  'under',
  'through',
  'keeps',
  'moves',
  'holds',
  'returns',
  'becomes',
  'finds',
  'waits',
  'shows',
];

/** 32-bit FNV-1a hash of a string. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** mulberry32: a tiny, fast, seedable PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Words of a reply, each already carrying its leading space (except the first), so that one word is
 * one `text_delta` and their concatenation is the reply text. Starts capitalized, ends with a period.
 */
export function generateWords(seed: string, count: number): string[] {
  const random = mulberry32(fnv1a(seed));
  const words: string[] = [];
  for (let i = 0; i < count; i++) {
    let word = VOCABULARY[Math.floor(random() * VOCABULARY.length)] ?? 'word';
    if (i === 0) word = word.charAt(0).toUpperCase() + word.slice(1);
    if (i === count - 1) word += '.';
    words.push(i === 0 ? word : ` ${word}`);
  }
  return words;
}

/** Per-request overrides parsed from a `[[sim ...]]` directive in the last user message. */
export interface ReplyDirective {
  /** Reply length in words (`words=N`). */
  words?: number;
  /** Delay between streamed chunks in ms (`delay=N`). */
  delay?: number;
  /** Thinking length in words when thinking is enabled (`thinking=N`). */
  thinkingWords?: number;
}

const DIRECTIVE = /\[\[sim\b([^\]]*)\]\]/;

/** Parses `[[sim words=200 delay=20 thinking=12]]`; unknown keys and bad values are ignored. */
export function parseDirective(text: string): ReplyDirective {
  const match = DIRECTIVE.exec(text);
  if (!match) return {};
  const directive: ReplyDirective = {};
  for (const pair of (match[1] ?? '').trim().split(/\s+/)) {
    const [key, raw] = pair.split('=');
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 0) continue;
    if (key === 'words' && value >= 1) directive.words = Math.min(value, 100_000);
    if (key === 'delay') directive.delay = Math.min(value, 60_000);
    if (key === 'thinking' && value >= 1) directive.thinkingWords = Math.min(value, 10_000);
  }
  return directive;
}

/** Splits words into `parts` contiguous groups (for thinking deltas), dropping empty groups. */
export function splitInto(words: string[], parts: number): string[] {
  const size = Math.max(1, Math.ceil(words.length / parts));
  const groups: string[] = [];
  for (let i = 0; i < words.length; i += size) groups.push(words.slice(i, i + size).join(''));
  return groups;
}

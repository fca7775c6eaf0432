import type { SeededRandom } from '@turnstream/testkit';
import type { ChaosProfile } from './profile.ts';

export const TRANSIENT_FAULTS = [
  'overloaded',
  'server_error',
  'rate_limited',
  'overloaded_midstream',
  'disconnect_midstream',
  'stall',
] as const;
export const FATAL_FAULTS = ['invalid_request', 'auth'] as const;

export type TransientFault = (typeof TRANSIENT_FAULTS)[number];
export type FatalFault = (typeof FATAL_FAULTS)[number];

/** A simulator fault rule aimed at one message (matched by its tag). */
export interface PlannedFault {
  kind: 'transient' | 'fatal';
  fault: TransientFault | FatalFault;
  /**
   * Requests of the message it strikes; absent: every one. A fatal fault strikes every request, as a
   * real one does (a bad key or a bad request fails again when retried): a worker that got the answer
   * and died before recording it leaves the message to a takeover whose request fails the same way.
   */
  times?: number;
  retryAfterMs?: number;
  afterChunks?: number;
}

export interface MessagePlan {
  index: number;
  /** Unique in the run; the simulator's fault rules and the request checks find the message by it. */
  tag: string;
  content: string;
  fault?: PlannedFault;
  /** Cancel it once it streams, or right after posting it while the previous turn still runs. */
  cancel?: 'streaming' | 'queued';
  /** Reset the conversation once this message's reply streams. */
  resetWhileStreaming?: boolean;
  /** Send the next message right away instead of after this one's reply. */
  burst: boolean;
}

export interface ConversationPlan {
  index: number;
  channel: 'api' | 'direct';
  thinking: boolean;
  messages: MessagePlan[];
}

/** Reply length and pace of a message, as a simulator directive. */
function directive(words: number, delayMs: number): string {
  return `[[sim words=${words} delay=${delayMs}]]`;
}

export function messageTag(conversation: number, message: number): string {
  return `#c${conversation}.m${message}#`;
}

function planFault(rnd: SeededRandom, share: ChaosProfile['share'], words: number): PlannedFault | undefined {
  const r = rnd.next();
  if (r < share.fatalFault) return { kind: 'fatal', fault: rnd.pick(FATAL_FAULTS) };
  if (r >= share.fatalFault + share.transientFault) return undefined;
  const fault = rnd.pick(TRANSIENT_FAULTS);
  const planned: PlannedFault = { kind: 'transient', fault, times: fault === 'stall' ? 1 : rnd.int(1, 2) };
  if (fault === 'rate_limited') {
    planned.times = 1;
    planned.retryAfterMs = rnd.int(1000, 2000);
  }
  if (fault.endsWith('_midstream') || fault === 'stall') planned.afterChunks = rnd.int(0, words - 1);
  return planned;
}

function planConversation(rnd: SeededRandom, profile: ChaosProfile, index: number): ConversationPlan {
  const { share } = profile;
  const count = profile.messagesPerConversation;
  const channel = rnd.chance(share.direct) ? 'direct' : 'api';
  const resetAt = rnd.chance(share.reset) && count >= 4 ? rnd.int(1, count - 2) : -1;
  const messages: MessagePlan[] = [];
  for (let i = 0; i < count; i++) {
    const tag = messageTag(index, i);
    const m: MessagePlan = { index: i, tag, content: '', burst: false };
    let words = rnd.int(30, 80);
    let delay = rnd.int(8, 20);
    if (i === resetAt) {
      m.resetWhileStreaming = true;
      words = 150;
      delay = 20;
    } else if (rnd.chance(share.cancel)) {
      // A queued cancel needs a running turn ahead of it: direct conversations send one at a time.
      m.cancel = i > 0 && channel === 'api' && i - 1 !== resetAt && rnd.chance(0.5) ? 'queued' : 'streaming';
      if (m.cancel === 'streaming') {
        words = 150;
        delay = 20;
      }
    } else {
      const fault = planFault(rnd, share, words);
      if (fault) m.fault = fault;
    }
    m.content = `message ${i} of conversation ${index} ${tag} ${directive(words, delay)}`;
    messages.push(m);
  }
  for (let i = 0; i < count - 1; i++) {
    const m = messages[i]!;
    const next = messages[i + 1]!;
    // Bursts only through the API (a direct message gets its place when a worker stores it).
    m.burst =
      channel === 'api' && !m.resetWhileStreaming && (next.cancel === 'queued' || rnd.chance(share.burst));
  }
  return { index, channel, thinking: rnd.chance(share.thinking), messages };
}

/** The whole run's load, a pure function of the seed and the profile. */
export function planLoad(rnd: SeededRandom, profile: ChaosProfile): ConversationPlan[] {
  return Array.from({ length: profile.conversations }, (_, i) => planConversation(rnd, profile, i));
}

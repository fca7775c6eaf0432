/** The size and fault mix of a chaos run: `bounded` (the default), `soak` (5,000 turns), `smoke` (a minute). */
export interface ChaosProfile {
  name: string;
  conversations: number;
  messagesPerConversation: number;
  /** Conversations driven at the same time (the rest wait for a slot). */
  activeConversations: number;
  workers: number;
  apis: number;
  workerConcurrency: number;
  /** A random worker is SIGKILLed (and a replacement started) this often during the load. */
  killEveryMs: number;
  /** Workers SIGSTOPped past their lease and lock, then SIGCONTed. */
  pauses: number;
  redisRestarts: number;
  /** Times every application connection to the database is terminated. */
  postgresKills: number;
  signingKeyRotations: number;
  /** 429s (with retry-after) that strike whatever request comes next. */
  globalRateLimits: number;
  /** Shares of conversations / messages. */
  share: {
    /** Conversations driven through TurnsClient (direct enqueue) instead of the API. */
    direct: number;
    /** Conversations with extended thinking (signed thinking blocks: signing-key rotations bite). */
    thinking: number;
    /** Conversations reset while a turn streams. */
    reset: number;
    /** Messages cancelled mid-stream, or while queued. */
    cancel: number;
    /** Messages struck by a transient simulator fault (overloaded, 429, mid-stream error, disconnect, stall). */
    transientFault: number;
    /** Messages struck by a fatal simulator fault (they end failed, readably). */
    fatalFault: number;
    /** Messages posted right after the previous one instead of after its reply (the order gate works). */
    burst: number;
  };
  /** After the load: how long every message gets to reach its terminal state. */
  drainTimeoutMs: number;
  /** The whole run, for the test timeout. */
  runTimeoutMs: number;
}

const bounded: ChaosProfile = {
  name: 'bounded',
  conversations: 30,
  messagesPerConversation: 10,
  activeConversations: 12,
  workers: 3,
  apis: 1,
  workerConcurrency: 20,
  killEveryMs: 5_000,
  pauses: 1,
  redisRestarts: 1,
  postgresKills: 1,
  signingKeyRotations: 2,
  globalRateLimits: 1,
  share: {
    direct: 0.2,
    thinking: 0.2,
    reset: 0.15,
    cancel: 0.03,
    transientFault: 0.2,
    fatalFault: 0.02,
    burst: 0.25,
  },
  drainTimeoutMs: 180_000,
  runTimeoutMs: 15 * 60_000,
};

const soak: ChaosProfile = {
  ...bounded,
  name: 'soak',
  conversations: 250,
  messagesPerConversation: 20,
  activeConversations: 30,
  workers: 4,
  apis: 2,
  pauses: 6,
  redisRestarts: 3,
  postgresKills: 3,
  signingKeyRotations: 8,
  globalRateLimits: 6,
  drainTimeoutMs: 600_000,
  runTimeoutMs: 4 * 3600_000,
};

/** A minute's run with every kind of fault once: for working on the suite itself. */
const smoke: ChaosProfile = {
  ...bounded,
  name: 'smoke',
  conversations: 8,
  messagesPerConversation: 5,
  activeConversations: 8,
  workers: 2,
  killEveryMs: 4_000,
  share: { ...bounded.share, reset: 0.3, cancel: 0.1, fatalFault: 0.05 },
  drainTimeoutMs: 90_000,
};

export const PROFILES: Record<string, ChaosProfile> = { bounded, soak, smoke };

/** `CHAOS_PROFILE` (default bounded). */
export function chooseProfile(env: Record<string, string | undefined>): ChaosProfile {
  const name = env.CHAOS_PROFILE ?? 'bounded';
  const profile = PROFILES[name];
  if (!profile)
    throw new Error(`CHAOS_PROFILE must be one of ${Object.keys(PROFILES).join(', ')}, got ${name}`);
  return profile;
}

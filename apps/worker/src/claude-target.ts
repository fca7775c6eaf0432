/** Where the worker's Claude calls go, and with which key. */
export interface ClaudeTarget {
  apiKey: string;
  /** Undefined: Anthropic's API. */
  baseURL: string | undefined;
  simulator: boolean;
}

/** The placeholder key the simulator is called with (it accepts any). */
export const SIMULATOR_KEY = 'sim-key';

/**
 * A set `ANTHROPIC_API_KEY` always goes to `ANTHROPIC_BASE_URL` (Anthropic's API when unset), never to
 * the simulator; `CLAUDE_SIMULATOR_URL` is used only while no key is set. So a deployment that sets its
 * key alone reaches Anthropic, and a real key is never sent to a simulator by default. Null: neither.
 */
export function claudeTarget(env: {
  ANTHROPIC_API_KEY?: string | undefined;
  ANTHROPIC_BASE_URL?: string | undefined;
  CLAUDE_SIMULATOR_URL?: string | undefined;
}): ClaudeTarget | null {
  if (env.ANTHROPIC_API_KEY) {
    return { apiKey: env.ANTHROPIC_API_KEY, baseURL: env.ANTHROPIC_BASE_URL, simulator: false };
  }
  if (env.CLAUDE_SIMULATOR_URL) {
    return { apiKey: SIMULATOR_KEY, baseURL: env.CLAUDE_SIMULATOR_URL, simulator: true };
  }
  return null;
}

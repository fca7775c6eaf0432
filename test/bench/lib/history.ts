/**
 * The history a follow-up turn of the first-chunk scenario carries: `turns` completed exchanges, the
 * same in every conversation, stored as the worker stores a transcript (text content blocks) and sent
 * as is by the direct SDK baseline, so both sides send Claude the same messages.
 */
export interface HistoryMessage {
  role: 'user' | 'assistant';
  content: [{ type: 'text'; text: string }];
}

/** One completed exchange of the history (1-based `turn`). */
export function historyExchange(turn: number, words: number): { user: string; assistant: string } {
  return {
    user: `Earlier turn ${turn}: tell me something`,
    assistant: Array.from({ length: words }, (_, i) => `word${turn}_${i}`).join(' '),
  };
}

/** The transcript of `turns` completed exchanges: user, assistant, ... (empty for 0). */
export function historyMessages(turns: number, words: number): HistoryMessage[] {
  const out: HistoryMessage[] = [];
  for (let k = 1; k <= turns; k++) {
    const ex = historyExchange(k, words);
    out.push({ role: 'user', content: [{ type: 'text', text: ex.user }] });
    out.push({ role: 'assistant', content: [{ type: 'text', text: ex.assistant }] });
  }
  return out;
}

/** The value of `--first-chunk-history=<n>`: a whole number of exchanges, 0 or more. */
export function historyFlag(value: string | undefined): number {
  const n = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isInteger(n) || n < 0) {
    throw new Error(`--first-chunk-history: a whole number of exchanges (0 or more), not ${value}`);
  }
  return n;
}

import { generateWords, parseDirective, splitInto } from './reply.ts';
import type { ThinkingSigner } from './signing.ts';
import { countTextTokens } from './tokens.ts';
import type { MessagesRequest } from './validate.ts';
import { lastUserText } from './validate.ts';

/** Everything a response carries, decided before the first byte is sent. */
export interface ReplyPlan {
  thinking: { deltas: string[]; text: string; signature: string } | null;
  /** Text deltas, one word each; their concatenation is the reply text. */
  words: string[];
  stopReason: 'end_turn' | 'max_tokens';
  outputTokens: number;
  delayMs: number;
}

export interface PlanDefaults {
  seed: number | string;
  replyWords: number;
  thinkingWords: number;
  tokenDelayMs: number;
}

const THINKING_DELTAS = 3;

export function planReply(
  request: MessagesRequest,
  defaults: PlanDefaults,
  signer: ThinkingSigner,
): ReplyPlan {
  const userText = lastUserText(request.messages);
  const directive = parseDirective(userText);
  let budget = request.maxTokens;

  let thinking: ReplyPlan['thinking'] = null;
  let outputTokens = 0;
  if (request.thinking) {
    const count = directive.thinkingWords ?? defaults.thinkingWords;
    const thinkingWords = generateWords(`${defaults.seed}:thinking:${userText}`, count);
    const text = thinkingWords.join('');
    thinking = { deltas: splitInto(thinkingWords, THINKING_DELTAS), text, signature: signer.sign(text) };
    const tokens = countTextTokens(text);
    outputTokens += tokens;
    budget -= tokens;
  }

  const all = generateWords(`${defaults.seed}:${userText}`, directive.words ?? defaults.replyWords);
  const words: string[] = [];
  let stopReason: ReplyPlan['stopReason'] = 'end_turn';
  for (const word of all) {
    const tokens = countTextTokens(word);
    if (tokens > budget) {
      stopReason = 'max_tokens';
      break;
    }
    budget -= tokens;
    outputTokens += tokens;
    words.push(word);
  }
  return { thinking, words, stopReason, outputTokens, delayMs: directive.delay ?? defaults.tokenDelayMs };
}

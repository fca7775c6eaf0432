import { z } from 'zod';

/**
 * The one rule for text that reaches storage (every string field of a request body, every query
 * parameter, job payloads): well-formed Unicode without NUL. Postgres rejects NUL in `text`, and an
 * unpaired UTF-16 surrogate cannot be encoded as UTF-8 (it would silently become U+FFFD, so the same
 * request would not read back the same). Such input is rejected, never altered.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching NUL is the point
const UNSTORABLE = /\u0000|\p{Cs}/u;

/** The message every rejection of unstorable text carries. */
export const UNSTORABLE_TEXT_MESSAGE = 'must not contain NUL or unpaired surrogate characters';

/** true when `value` can be stored and read back exactly. */
export function isStorableText(value: string): boolean {
  return !UNSTORABLE.test(value);
}

/** A zod string that satisfies {@link isStorableText}; chain `.min()`/`.max()` as usual. */
export function storableText() {
  return z.string().refine(isStorableText, { error: UNSTORABLE_TEXT_MESSAGE });
}

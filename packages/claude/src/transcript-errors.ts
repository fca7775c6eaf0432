/**
 * Recognizes the 400s caused by the transcript itself: the same request fails every time, so the
 * only way forward is a new transcript. The Messages API marks most of them only by message text
 * (no `error_code`), so the patterns below follow the real messages; the compaction/thread codes are
 * the stable `error.details.error_code` values of SDK 1.x.
 */

const TRANSCRIPT_MESSAGES: Array<[RegExp, string]> = [
  [/Invalid `signature` in `thinking` block/i, 'thinking_signature_invalid'],
  [/thinking\.signature: Field required/i, 'thinking_signature_invalid'],
  [
    /`thinking` or `redacted_thinking` blocks in the latest assistant message cannot be modified/i,
    'thinking_block_modified',
  ],
  [/must start with a thinking block/i, 'thinking_block_missing'],
  [/`tool_use` ids were found without `tool_result` blocks/i, 'tool_use_without_result'],
  [/unexpected `tool_use_id` found in `tool_result` blocks/i, 'tool_result_without_use'],
  [/text content blocks must (be non-empty|contain non-whitespace text)/i, 'empty_text_block'],
  [/all messages must have non-empty content/i, 'empty_message'],
  [/roles must alternate/i, 'roles_not_alternating'],
  [/prompt is too long/i, 'prompt_too_long'],
];

const TRANSCRIPT_CODES = new Set([
  'compaction_block_ambiguous',
  'compaction_block_misplaced',
  'compaction_content_mismatch',
  'compaction_incomplete_turn',
  'compaction_nothing_to_summarize',
  'compaction_signature_invalid',
  'compaction_too_many_tool_references',
  'compaction_tool_changes_mismatch',
  'thread_already_continued',
  'thread_fingerprint_mismatch',
  'thread_not_found',
  'tool_name_conflict',
  'tool_reference_unresolved',
]);

/** The session-invalid reason of an API error, or null when the transcript is not to blame. */
export function sessionInvalidReason(
  status: number,
  type: string | null,
  errorCode: string | null,
  message: string,
): string | null {
  if (errorCode && TRANSCRIPT_CODES.has(errorCode)) return errorCode;
  // 413: the transcript outgrew the request size limit; a rebuilt (budgeted) one fits.
  if (status === 413 || type === 'request_too_large') return 'request_too_large';
  if (status !== 400 && type !== 'invalid_request_error') return null;
  for (const [pattern, reason] of TRANSCRIPT_MESSAGES) if (pattern.test(message)) return reason;
  return null;
}

import type { Message, Session } from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import { cancelUnstartedTurn } from './cancel-unstarted.ts';
import type { TurnDeps, TurnResult } from './turn-context.ts';

/**
 * A message stored before the session was created by a reset (its seq is not after the session's
 * `startSeq`). Its turn must not reach Claude any more: whatever it would send is pre-reset context.
 */
export function predatesSession(message: Message, session: Session): boolean {
  return message.seq <= session.startSeq;
}

/**
 * End the turn of a message that predates the reset, without calling Claude: a partial reply left by an
 * earlier attempt is kept as `cancelled`, the message becomes `cancelled`, and `turn.cancelled` is
 * published. Only the holder of the conversation lease (`fence`) calls this.
 */
export function cancelPreResetTurn(
  deps: TurnDeps,
  turn: { tenantId: string; message: Message; fence: number; log: Logger },
): Promise<TurnResult> {
  return cancelUnstartedTurn(deps, { ...turn, reason: 'session_reset' });
}

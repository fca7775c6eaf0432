import {
  type Conversation,
  type Db,
  getConversation,
  getMessage,
  isUuid,
  type Message,
} from '@turnstream/db';
import { ApiError } from './errors.ts';

/**
 * The tenant's conversation, or 404 `conversation_not_found`. Another tenant's conversation and a
 * malformed id answer the same 404 (never a 403, never a database error).
 */
export async function loadConversation(db: Db, tenantId: string, id: string): Promise<Conversation> {
  if (!isUuid(id)) throw new ApiError('conversation_not_found');
  const conversation = await getConversation(db, tenantId, id);
  if (!conversation) throw new ApiError('conversation_not_found');
  return conversation;
}

/** A message of this conversation (any role unless `userOnly`), or 404 `message_not_found`. */
export async function loadMessage(
  db: Db,
  tenantId: string,
  conversationId: string,
  messageId: string,
  opts: { userOnly?: boolean } = {},
): Promise<Message> {
  if (!isUuid(messageId)) throw new ApiError('message_not_found');
  const message = await getMessage(db, tenantId, messageId);
  if (!message || message.conversationId !== conversationId) throw new ApiError('message_not_found');
  if (opts.userOnly && message.role !== 'user') {
    throw new ApiError('message_not_found', { message: 'No such user message in this conversation.' });
  }
  return message;
}

// Key names are part of the wire contract (clients read the log): their home is @turnstream/contracts.
export { type ConversationKeys, conversationKeys } from '@turnstream/contracts';

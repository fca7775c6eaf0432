-- A `conversation.deleted` delivery outlives its conversation: it names no conversation row (its subject,
-- in message_id, is the deleted conversation's id).
ALTER TABLE "webhook_deliveries" ALTER COLUMN "conversation_id" DROP NOT NULL;
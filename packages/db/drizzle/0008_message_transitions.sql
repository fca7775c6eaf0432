-- Message status transitions (the state machine of packages/db/src/message-status.ts; a test keeps the
-- two equal). Any writer changing a message's status to one not allowed from where it is gets an error.
CREATE OR REPLACE FUNCTION turnstream_message_transition_allowed(is_user boolean, from_status text, to_status text)
RETURNS boolean AS $$
  SELECT from_status = to_status OR CASE
    WHEN is_user THEN
      from_status IN ('pending', 'streaming') AND to_status IN ('completed', 'failed', 'cancelled')
    ELSE CASE from_status
      WHEN 'pending' THEN to_status IN ('streaming', 'failed', 'cancelled')
      WHEN 'streaming' THEN to_status IN ('completed', 'failed', 'cancelled', 'interrupted')
      WHEN 'interrupted' THEN to_status IN ('streaming', 'failed', 'cancelled')
      ELSE false
    END
  END;
$$ LANGUAGE sql IMMUTABLE;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION turnstream_refuse_illegal_message_transition() RETURNS trigger AS $$
BEGIN
  IF NOT turnstream_message_transition_allowed(OLD.role = 'user', OLD.status, NEW.status) THEN
    RAISE EXCEPTION 'message % (%) cannot go from % to %', OLD.id, OLD.role, OLD.status, NEW.status
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER messages_legal_transition
  BEFORE UPDATE OF status ON messages
  FOR EACH ROW EXECUTE FUNCTION turnstream_refuse_illegal_message_transition();

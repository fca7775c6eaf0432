-- Database-level guards for the session invariants. The repositories already enforce them;
-- these make them hold for any writer (a late worker, a script, a manual fix).

-- A cleared (tombstoned) transcript id is never set on a session again.
CREATE OR REPLACE FUNCTION turnstream_refuse_tombstoned_session_id() RETURNS trigger AS $$
BEGIN
  IF NEW.assistant_session_id IS NOT NULL
     AND (TG_OP = 'INSERT' OR NEW.assistant_session_id IS DISTINCT FROM OLD.assistant_session_id)
     AND EXISTS (SELECT 1 FROM assistant_transcripts t WHERE t.id = NEW.assistant_session_id AND t.status = 'cleared') THEN
    RAISE EXCEPTION 'assistant session % is tombstoned', NEW.assistant_session_id USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER sessions_refuse_tombstoned_id
  BEFORE INSERT OR UPDATE OF assistant_session_id ON sessions
  FOR EACH ROW EXECUTE FUNCTION turnstream_refuse_tombstoned_session_id();
--> statement-breakpoint
-- A tombstone stays a tombstone.
CREATE OR REPLACE FUNCTION turnstream_keep_tombstone() RETURNS trigger AS $$
BEGIN
  IF OLD.status = 'cleared' AND NEW.status <> 'cleared' THEN
    RAISE EXCEPTION 'assistant transcript % is tombstoned and cannot be revived', OLD.id USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER assistant_transcripts_keep_tombstone
  BEFORE UPDATE OF status ON assistant_transcripts
  FOR EACH ROW EXECUTE FUNCTION turnstream_keep_tombstone();
--> statement-breakpoint
-- Fences and versions only move forward.
CREATE OR REPLACE FUNCTION turnstream_monotonic_session() RETURNS trigger AS $$
BEGIN
  IF NEW.fence < OLD.fence THEN
    RAISE EXCEPTION 'session % fence would go back (% < %)', OLD.id, NEW.fence, OLD.fence USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.version < OLD.version THEN
    RAISE EXCEPTION 'session % version would go back', OLD.id USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER sessions_monotonic
  BEFORE UPDATE ON sessions
  FOR EACH ROW EXECUTE FUNCTION turnstream_monotonic_session();

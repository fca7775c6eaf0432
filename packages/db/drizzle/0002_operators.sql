CREATE TABLE "admin_actions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid,
	"conversation_id" uuid,
	"message_id" uuid,
	"action" text NOT NULL,
	"actor_key_id" uuid NOT NULL,
	"actor_key_prefix" text NOT NULL,
	"actor_role" text NOT NULL,
	"actor_tenant_id" uuid NOT NULL,
	"detail" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "operator" boolean DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX "admin_actions_conversation_idx" ON "admin_actions" USING btree ("conversation_id","created_at");--> statement-breakpoint
CREATE INDEX "admin_actions_created_idx" ON "admin_actions" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "messages_status_updated_idx" ON "messages" USING btree ("status","updated_at");--> statement-breakpoint
CREATE INDEX "turn_attempts_tenant_started_idx" ON "turn_attempts" USING btree ("tenant_id","started_at");
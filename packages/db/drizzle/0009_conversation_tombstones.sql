-- Deleted conversations, remembered so that an intake job enqueued before a deletion does not create the
-- conversation again by its external id (see docs/integration.md, "Deleting a conversation").
CREATE TABLE "conversation_tombstones" (
	"conversation_id" uuid PRIMARY KEY NOT NULL,
	"tenant_id" uuid NOT NULL,
	"external_id" text,
	"deleted_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "conversation_tombstones" ADD CONSTRAINT "conversation_tombstones_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "conversation_tombstones_external_idx" ON "conversation_tombstones" USING btree ("tenant_id","external_id","deleted_at");--> statement-breakpoint
CREATE INDEX "conversation_tombstones_deleted_idx" ON "conversation_tombstones" USING btree ("deleted_at");
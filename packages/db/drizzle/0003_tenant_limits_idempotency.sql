ALTER TABLE "messages" ADD COLUMN "idempotency_key" text;--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "messages_per_minute" integer;--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "max_running_turns" integer;--> statement-breakpoint
CREATE UNIQUE INDEX "messages_tenant_idempotency_key_uq" ON "messages" USING btree ("tenant_id","idempotency_key");--> statement-breakpoint
ALTER TABLE "tenants" ADD CONSTRAINT "tenants_messages_per_minute_check" CHECK ("tenants"."messages_per_minute" is null or "tenants"."messages_per_minute" > 0);--> statement-breakpoint
ALTER TABLE "tenants" ADD CONSTRAINT "tenants_max_running_turns_check" CHECK ("tenants"."max_running_turns" is null or "tenants"."max_running_turns" > 0);
CREATE TABLE "security_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"occurred_at" timestamp (3) with time zone NOT NULL,
	"event" varchar(64) NOT NULL,
	"user_id" integer,
	"actor_id" integer,
	"ip" varchar(64),
	"request_id" varchar(128),
	"details" jsonb NOT NULL
);
--> statement-breakpoint
CREATE INDEX "security_events_event_idx" ON "security_events" USING btree ("event","id");--> statement-breakpoint
CREATE INDEX "security_events_user_idx" ON "security_events" USING btree ("user_id","id");--> statement-breakpoint
CREATE INDEX "security_events_occurred_idx" ON "security_events" USING btree ("occurred_at");
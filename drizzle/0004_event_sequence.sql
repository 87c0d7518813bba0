CREATE SEQUENCE "public"."outbox_event_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1;--> statement-breakpoint
ALTER TABLE "outbox_events" ADD COLUMN "seq" bigint;--> statement-breakpoint
CREATE UNIQUE INDEX "outbox_events_seq_idx" ON "outbox_events" USING btree ("seq");--> statement-breakpoint
-- Events published before this migration keep their ids; the sequence continues above every
-- id ever handed out (not just the rows still kept), so a client's last id is never reused.
UPDATE "outbox_events" SET "seq" = "id" WHERE "published_at" IS NOT NULL;--> statement-breakpoint
SELECT setval('"public"."outbox_event_seq"', (SELECT "last_value" + 1 FROM "outbox_events_id_seq"), false);

ALTER TABLE "user_mfa" ADD COLUMN "failed_attempts" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "user_mfa" ADD COLUMN "locked_until" timestamp (3) with time zone;
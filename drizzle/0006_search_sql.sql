-- Search prerequisites that the schema file cannot declare; they must exist before the
-- next migration adds the generated search column and the trigram index that use them.

-- Trigram matching for typo-tolerant title suggestions. pg_trgm is a trusted extension
-- (PostgreSQL 13+), so the database owner may create it without superuser rights.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
--> statement-breakpoint
-- A generated column may only call immutable functions, and array_to_string is declared
-- stable (it is generic over element types whose output may depend on settings). For text[]
-- it is in fact immutable, so this wrapper says so; the SQL-standard body is bound at
-- creation, so a caller's search_path cannot change what it calls.
CREATE FUNCTION posts_tags_text(tags text[]) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
  RETURN array_to_string(tags, ' ');

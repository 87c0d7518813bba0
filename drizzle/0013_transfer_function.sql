-- A credit transfer as one statement. The transfer used to be about a dozen statements in
-- one transaction (key lock, stored-response lookup, two locked account rows, two balance
-- updates, the transfer, its ledger entries, the outbox event, the stored response), each a
-- round trip built and parsed in Node: about 2.6 ms of API CPU per transfer. The same steps
-- in one function run in one round trip, in the implicit transaction of the statement that
-- calls it, so every guarantee is unchanged:
--   * requests sharing an Idempotency-Key are serialized by a transaction-level advisory lock
--     (409 when another one holds it), and a stored outcome is replayed (422 when the request
--     differs from the one that stored it);
--   * both accounts are locked in id order, so opposite transfers cannot deadlock;
--   * balances, the transfer, its two ledger entries, the recipient's live event (outbox) and
--     the stored outcome commit together or not at all; users_balance_non_negative still
--     guards every balance.
-- The outcome is returned as (status, body): 201 with the transfer as the API shows it (the
-- same keys as transfers.mappers.ts), 400/404 with a business refusal's code and detail, or
-- 409/422 with no body. The caller maps these to its errors and retries the whole call on
-- serialization failures and deadlocks, as before.
CREATE FUNCTION transfer_credits(
  p_from integer,
  p_to integer,
  p_amount bigint,
  p_memo varchar,
  p_key varchar,
  p_request_hash varchar,
  p_ttl_ms bigint,
  p_traceparent text
) RETURNS TABLE (status integer, body jsonb)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
  stored idempotency_keys%ROWTYPE;
  recipient_active boolean;
  sender_balance bigint;
  saved transfers%ROWTYPE;
  outcome_status integer;
  outcome jsonb;
BEGIN
  IF NOT pg_try_advisory_xact_lock(p_from, hashtext(p_key)) THEN
    RETURN QUERY SELECT 409, NULL::jsonb;
    RETURN;
  END IF;

  SELECT * INTO stored FROM idempotency_keys k
    WHERE k.user_id = p_from AND k.key = p_key AND k.expires_at > now();
  IF FOUND THEN
    IF stored.request_hash <> p_request_hash THEN
      RETURN QUERY SELECT 422, NULL::jsonb;
    ELSE
      RETURN QUERY SELECT stored.response_status, stored.response_body;
    END IF;
    RETURN;
  END IF;

  PERFORM 1 FROM users u WHERE u.id IN (p_from, p_to) ORDER BY u.id FOR UPDATE;
  SELECT u.is_active INTO recipient_active FROM users u WHERE u.id = p_to;
  SELECT u.balance INTO sender_balance FROM users u WHERE u.id = p_from;

  IF recipient_active IS NOT TRUE THEN
    outcome_status := 404;
    outcome := jsonb_build_object('code', 'recipient_not_found', 'detail', format('User %s not found', p_to));
  ELSIF sender_balance IS NULL OR sender_balance < p_amount THEN
    outcome_status := 400;
    outcome := jsonb_build_object('code', 'insufficient_funds', 'detail', 'Insufficient funds for this transfer');
  ELSE
    UPDATE users u SET balance = u.balance - p_amount WHERE u.id = p_from;
    UPDATE users u SET balance = u.balance + p_amount WHERE u.id = p_to;
    INSERT INTO transfers (from_user_id, to_user_id, amount, memo)
      VALUES (p_from, p_to, p_amount, p_memo) RETURNING * INTO saved;
    INSERT INTO ledger_entries (user_id, kind, amount, transfer_id, memo) VALUES
      (p_from, 'transfer_out', -p_amount, saved.id, p_memo),
      (p_to, 'transfer_in', p_amount, saved.id, p_memo);
    outcome_status := 201;
    outcome := jsonb_build_object(
      'id', saved.id,
      'from_user_id', saved.from_user_id,
      'to_user_id', saved.to_user_id,
      'amount', saved.amount,
      'memo', saved.memo,
      'created_at', to_char(saved.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
    INSERT INTO outbox_events (topic, user_id, payload, traceparent)
      VALUES ('transfer.received', p_to, outcome, p_traceparent);
  END IF;

  -- An expired record of the same key is replaced: after the retention window a key is new.
  INSERT INTO idempotency_keys AS k (user_id, key, request_hash, response_status, response_body, expires_at)
    VALUES (p_from, p_key, p_request_hash, outcome_status, outcome,
            now() + make_interval(secs => p_ttl_ms / 1000.0))
    ON CONFLICT (user_id, key) DO UPDATE SET
      request_hash = excluded.request_hash,
      response_status = excluded.response_status,
      response_body = excluded.response_body,
      expires_at = excluded.expires_at;

  RETURN QUERY SELECT outcome_status, outcome;
END;
$$;

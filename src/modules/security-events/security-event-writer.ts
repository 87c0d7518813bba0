import type { Logger } from "pino";
import type { SecurityEvent } from "../../http/security-log.js";
import type { NewSecurityEvent, SecurityEventsRepository } from "./security-events.repository.js";

export interface SecurityEventWriterOptions {
  repository: Pick<SecurityEventsRepository, "insertMany">;
  logger: Pick<Logger, "warn">;
  /** How long an event may wait for its batch: the admin view lags the log by at most this. */
  flushAfterMs?: number;
  /** Rows per insert. */
  batchSize?: number;
  /**
   * Events held in memory at most; past it new ones are dropped (and counted in a warning)
   * rather than letting a flood of refusals, or a database outage, grow the process's memory.
   */
  maxBuffered?: number;
}

const MAX_DETAIL_CHARS = 2_000;
const asId = (value: unknown) => (typeof value === "number" && Number.isSafeInteger(value) ? value : null);
const asText = (value: unknown, max: number) => (typeof value === "string" ? value.slice(0, max) : null);

/** A log line's fields as a row: the indexed columns, and the rest as details. */
export function toRow(fields: SecurityEvent & { request_id?: string }, at: Date): NewSecurityEvent {
  const { event, user_id, actor_id, ip, request_id, route: _route, ...rest } = fields;
  let details: Record<string, unknown> = rest;
  // Details come from our own code, never from a client verbatim, but a long origin or reason
  // is still cut so one row stays small.
  if (JSON.stringify(rest).length > MAX_DETAIL_CHARS) details = { truncated: true };
  return {
    occurredAt: at,
    event: event.slice(0, 64),
    userId: asId(user_id),
    actorId: asId(actor_id),
    ip: asText(ip, 64),
    requestId: asText(request_id, 128),
    details,
  };
}

/**
 * Persists security events without adding a database round trip to the request that raised
 * them: `record` only appends to a buffer; a timer started by the first buffered event writes
 * the batch. `close` writes what is left (the app closes it before the database).
 */
export function createSecurityEventWriter(options: SecurityEventWriterOptions) {
  const { repository, logger } = options;
  const flushAfterMs = options.flushAfterMs ?? 1_000;
  const batchSize = options.batchSize ?? 500;
  const maxBuffered = options.maxBuffered ?? 10_000;
  let buffer: NewSecurityEvent[] = [];
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();
  let dropped = 0;

  async function writeBuffered(): Promise<void> {
    timer = undefined;
    while (buffer.length > 0) {
      const batch = buffer.slice(0, batchSize);
      buffer = buffer.slice(batchSize);
      try {
        await repository.insertMany(batch);
      } catch (error) {
        // Not retried: the log line already holds the event; the table is a convenience copy.
        logger.warn(
          { err: error, event: "security_events.write_failed", lost: batch.length },
          "security events not stored",
        );
      }
    }
    if (dropped > 0) {
      logger.warn(
        { event: "security_events.dropped", dropped },
        "security events dropped: too many buffered",
      );
      dropped = 0;
    }
  }

  const flush = () => {
    flushing = flushing.then(writeBuffered);
    return flushing;
  };

  return {
    record(fields: SecurityEvent & { request_id?: string }): void {
      if (buffer.length >= maxBuffered) {
        dropped++;
        return;
      }
      buffer.push(toRow(fields, new Date()));
      if (!timer) {
        timer = setTimeout(() => void flush(), flushAfterMs);
        timer.unref();
      }
    },
    /** Writes everything buffered now (tests, and before the database closes). */
    flush,
    async close(): Promise<void> {
      if (timer) clearTimeout(timer);
      await flush();
    },
  };
}

export type SecurityEventWriter = ReturnType<typeof createSecurityEventWriter>;

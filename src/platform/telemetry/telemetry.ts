/**
 * What the rest of Kaira sees of traces and error reports: a few functions that do nothing
 * until `startTelemetry` installs the real ones. This file imports no telemetry package, so a
 * process with traces and error reports off loads none of them (see ./index.ts).
 */
import { settledWithin } from "../../shared/timeouts.js";

export interface SpanOptions {
  /** "consumer" for work taken from a queue, "producer" for a publish, "client" for an outgoing call. */
  kind?: "internal" | "client" | "producer" | "consumer";
  attributes?: Record<string, string | number | boolean>;
  /** A W3C traceparent to continue (the span becomes its child) instead of the active span. */
  parent?: string | undefined;
  /** W3C traceparents of other traces this span works for (a batch's messages): linked, not parents. */
  links?: string[];
}

/** Where an error report comes from, and who it happened to. Never bodies or credentials. */
export interface ErrorContext {
  requestId?: string;
  /** The route template (`/api/v1/posts/:id`), never the raw URL. */
  route?: string;
  method?: string;
  status?: number;
  userId?: number;
  job?: { id: string; name: string; attempt: number };
  origin?: string;
}

export interface Tracer {
  /** The active span as a W3C traceparent header value, if one is being recorded. */
  currentTraceparent(): string | undefined;
  /** Runs `fn` inside a new span, ended (with its error recorded) when `fn` settles. */
  inSpan<T>(name: string, options: SpanOptions, fn: () => Promise<T>): Promise<T>;
  /** The active span's ids, for log lines. */
  activeIds(): { trace_id: string; span_id: string } | undefined;
  flush(): Promise<void>;
}

export interface ErrorReporter {
  report(error: unknown, context: ErrorContext): void;
  flush(): Promise<void>;
}

let tracer: Tracer | undefined;
let reporter: ErrorReporter | undefined;

export function installTracer(installed: Tracer | undefined): void {
  tracer = installed;
}

export function installErrorReporter(installed: ErrorReporter | undefined): void {
  reporter = installed;
}

export const tracingEnabled = (): boolean => tracer !== undefined;

export const currentTraceparent = (): string | undefined => tracer?.currentTraceparent();

export function inSpan<T>(name: string, options: SpanOptions, fn: () => Promise<T>): Promise<T> {
  return tracer ? tracer.inSpan(name, options, fn) : fn();
}

export const activeTraceIds = (): { trace_id: string; span_id: string } | undefined => tracer?.activeIds();

export function reportError(error: unknown, context: ErrorContext = {}): void {
  reporter?.report(error, context);
}

/**
 * Sends what is still buffered; called on the way out of a process. At most 2 s: a collector
 * that is down or never answers must not hold up a shutdown (the exporter would retry).
 */
export async function flushTelemetry(): Promise<void> {
  await settledWithin(
    [tracer?.flush(), reporter?.flush()].filter((flush) => flush !== undefined),
    2_000,
  );
}

import { subscribe } from "node:diagnostics_channel";
import {
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter as OTLPJsonTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as OTLPProtoTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { registerInstrumentations } from "@opentelemetry/instrumentation";
import { HttpInstrumentation } from "@opentelemetry/instrumentation-http";
import { IORedisInstrumentation } from "@opentelemetry/instrumentation-ioredis";
import { PgInstrumentation } from "@opentelemetry/instrumentation-pg";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import {
  ATTR_HTTP_ROUTE,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
} from "@opentelemetry/semantic-conventions";
import type { FastifyInstance } from "fastify";
import type { TracesConfig } from "../../config.js";
import { redactUrl } from "../../shared/redaction.js";
import type { SpanOptions, Tracer } from "./telemetry.js";

const KINDS: Record<NonNullable<SpanOptions["kind"]>, SpanKind> = {
  internal: SpanKind.INTERNAL,
  client: SpanKind.CLIENT,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
};

const UNTRACED_PATHS = new Set(["/health/live", "/health/ready", "/metrics"]);
const SENTRY_ENVELOPE = /^\/api\/\d+\/envelope\/?(\?|$)/;

const traceparentGetter: TextMapGetter<string> = {
  keys: () => ["traceparent"],
  get: (carrier, key) => (key === "traceparent" ? carrier : undefined),
};

/**
 * Starts the OpenTelemetry SDK: spans of HTTP (named by route template), PostgreSQL and Redis,
 * batched to the OTLP endpoint. Must run before `pg`, `ioredis` and `fastify` are imported
 * (./index.ts makes sure of it). The sampler and exporter details (OTEL_TRACES_SAMPLER,
 * OTEL_EXPORTER_OTLP_HEADERS, OTEL_BSP_*) are read from the environment by the SDK itself.
 */
export function startTracing(config: TracesConfig, defaultServiceName: string, version: string): Tracer {
  const exporterOptions = { url: config.endpoint };
  const exporter =
    config.protocol === "http/json"
      ? new OTLPJsonTraceExporter(exporterOptions)
      : new OTLPProtoTraceExporter(exporterOptions);
  const provider = new NodeTracerProvider({
    resource: defaultResource().merge(
      resourceFromAttributes({
        [ATTR_SERVICE_NAME]: config.serviceName ?? defaultServiceName,
        [ATTR_SERVICE_VERSION]: version,
      }),
    ),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        // Probes and scrapes arrive every few seconds: traces of them would drown the rest.
        ignoreIncomingRequestHook: (request) => UNTRACED_PATHS.has((request.url ?? "").split("?")[0] ?? ""),
        // Error reports leaving for Sentry are not Kaira's work.
        ignoreOutgoingRequestHook: (request) => SENTRY_ENVELOPE.test(request.path ?? ""),
        // A credential in a query string (?access_token=…) stays out of traces, as out of logs.
        requestHook: (span, request) => {
          const url = "url" in request ? request.url : undefined;
          const query = url?.indexOf("?") ?? -1;
          if (url && query !== -1) span.setAttribute("url.query", redactUrl(url).slice(query + 1));
        },
      }),
      // Statements are recorded as sent (with placeholders), never their parameter values.
      new PgInstrumentation({ requireParentSpan: true }),
      new IORedisInstrumentation({ requireParentSpan: true }),
    ],
  });
  nameServerSpansByRoute();
  const tracer = trace.getTracer("kaira", version);

  return {
    currentTraceparent() {
      const carrier: Record<string, string> = {};
      propagation.inject(context.active(), carrier);
      return carrier.traceparent;
    },
    inSpan(name, options, fn) {
      const parent =
        options.parent === undefined
          ? context.active()
          : propagation.extract(context.active(), options.parent, traceparentGetter);
      const links = (options.links ?? [])
        .map((traceparent) =>
          trace.getSpanContext(propagation.extract(ROOT_CONTEXT, traceparent, traceparentGetter)),
        )
        .filter((linked) => linked !== undefined)
        .map((linked) => ({ context: linked }));
      return tracer.startActiveSpan(
        name,
        {
          kind: KINDS[options.kind ?? "internal"],
          ...(options.attributes ? { attributes: options.attributes } : {}),
          ...(links.length > 0 ? { links } : {}),
        },
        parent,
        async (span: Span) => {
          try {
            return await fn();
          } catch (error) {
            span.recordException(error as Error);
            span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
            throw error;
          } finally {
            span.end();
          }
        },
      );
    },
    activeIds() {
      const span = trace.getActiveSpan();
      if (!span) return undefined;
      const { traceId, spanId } = span.spanContext();
      return { trace_id: traceId, span_id: spanId };
    },
    flush: () => provider.forceFlush(),
  };
}

/**
 * The HTTP instrumentation names a server span by its method alone ("GET"): only the router
 * knows the route. Each Fastify instance, as it is created (Fastify announces it on the
 * `fastify.initialization` channel), gets a hook that names the request's span
 * `GET /api/v1/posts/:id` — the template, so ids never make span names (or their
 * cardinality) grow. Requests no route matched keep the plain method. (@fastify/otel would
 * add spans of its own for hooks and handlers but leave this one unnamed, and it pins an
 * older @opentelemetry/instrumentation than the other instrumentations: a second copy.)
 */
function nameServerSpansByRoute(): void {
  subscribe("fastify.initialization", (message) => {
    const { fastify } = message as { fastify: FastifyInstance };
    fastify.addHook("onRequest", (request, _reply, done) => {
      const route = request.routeOptions.url;
      const span = trace.getActiveSpan();
      if (route !== undefined && span) {
        span.updateName(`${request.method} ${route}`);
        span.setAttribute(ATTR_HTTP_ROUTE, route);
      }
      done();
    });
  });
}

/**
 * OpenTelemetry tracing, configured by the standard environment (OpenTelemetry SDK environment
 * variables specification): on when `OTEL_TRACES_EXPORTER` names an exporter (`otlp`, `console`)
 * or, with it unset, when an OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT`,
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); off with `OTEL_SDK_DISABLED=true` or
 * `OTEL_TRACES_EXPORTER=none`. The OTLP exporter (HTTP) reads its own `OTEL_EXPORTER_OTLP_*`
 * settings (endpoint, headers, timeout); the service is `OTEL_SERVICE_NAME` (default `verity`).
 *
 * What is traced: every HTTP request through Fastify's own instrumentation (`@fastify/otel`),
 * continuing the caller's W3C `traceparent` (a PEP's trace goes on in the PDP), and under it one
 * `verity.decision` span per decision with the tenant, the policy version and the decision as
 * attributes. Off, a decision pays one boolean check.
 */
import { context, SpanKind, trace, type Tracer } from '@opentelemetry/api';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-node';
import type { DecisionRecord } from '@verity/core';
import type { FastifyPluginCallback } from 'fastify';

/** Paths never traced: probes and scrapes would drown the decisions. */
const UNTRACED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** The running tracing of this process (one per process: the provider is global). */
export interface Tracing {
  readonly enabled: boolean;
  /** Fastify's instrumentation, to register before the routes (undefined when off). */
  fastifyPlugin(): FastifyPluginCallback | undefined;
  /** Export the spans ended so far (a server's stop: the process may exit next). */
  flush(): Promise<void>;
}

let running: Tracing | undefined;
let tracer: Tracer | undefined;

/** Which exporter the environment asks for, or null when tracing is off. */
export function tracesExporterOf(env: NodeJS.ProcessEnv): 'otlp' | 'console' | null {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return null;
  const named = env.OTEL_TRACES_EXPORTER?.trim().toLowerCase();
  if (named === undefined || named === '') return env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? 'otlp' : null;
  if (named === 'none') return null;
  if (named === 'otlp' || named === 'console') return named;
  throw new TypeError(`OTEL_TRACES_EXPORTER must be otlp, console or none (got "${named.slice(0, 32)}")`);
}

/**
 * Start tracing as the environment says, once per process (later calls return the first).
 * The SDK, the exporter and the instrumentation are loaded only when tracing is on. Rejects
 * with TypeError for an OTEL_TRACES_EXPORTER it does not know.
 */
export async function startTracing(env: NodeJS.ProcessEnv = process.env): Promise<Tracing> {
  if (running !== undefined) return running;
  const exporter = tracesExporterOf(env);
  if (exporter === null) {
    running = { enabled: false, fastifyPlugin: () => undefined, flush: async () => {} };
    return running;
  }
  const [{ FastifyOtelInstrumentation }, { OTLPTraceExporter }, { defaultResource, detectResources, envDetector, resourceFromAttributes }, { BatchSpanProcessor, ConsoleSpanExporter, NodeTracerProvider, SimpleSpanProcessor }] = await Promise.all([
    import('@fastify/otel'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/sdk-trace-node'),
  ]);
  if (running !== undefined) return running;
  // OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME (envDetector) over Verity's own default name.
  const resource = defaultResource().merge(resourceFromAttributes({ 'service.name': 'verity' })).merge(detectResources({ detectors: [envDetector] }));
  const processor: SpanProcessor = exporter === 'otlp' ? new BatchSpanProcessor(new OTLPTraceExporter()) : new SimpleSpanProcessor(new ConsoleSpanExporter());
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  // The global provider, W3C trace-context and baggage propagators, and an AsyncLocalStorage
  // context manager (a decision's span finds its request's span).
  provider.register();
  const instrumentation = new FastifyOtelInstrumentation({
    ignorePaths: (route: { url: string }) => UNTRACED_PATHS.has(route.url),
    // `url.path` without the query: a query may carry a token (a gateway's forwarded URI, an
    // OAuth callback), and no query string is logged or exported (docs/security.md).
    requestHook: (span, request) => span.setAttribute('url.path', request.url.split('?')[0] ?? ''),
  });
  instrumentation.setTracerProvider(provider);
  tracer = trace.getTracer('verity');
  running = {
    enabled: true,
    fastifyPlugin: () => instrumentation.plugin() as unknown as FastifyPluginCallback,
    flush: () => provider.forceFlush(),
  };
  return running;
}

/**
 * One span for a decision this server made, under the active span (its request's): started
 * `latencyUs` before now and ended now, since the decision is known only once made. Nothing
 * when tracing is off.
 */
export function traceDecision(record: DecisionRecord): void {
  if (tracer === undefined) return;
  const end = Date.now();
  const span = tracer.startSpan(
    'verity.decision',
    {
      kind: SpanKind.INTERNAL,
      startTime: end - record.latencyUs / 1000,
      attributes: {
        'verity.tenant': record.tenant,
        'verity.policy.version': record.policyVersion,
        'verity.decision': record.decision,
        'verity.decision.id': record.decisionId,
        ...(record.tier === null ? {} : { 'verity.tier': record.tier }),
        ...(record.requestId === null ? {} : { 'verity.request.id': record.requestId }),
      },
    },
    context.active(),
  );
  span.end(end);
}

/**
 * OpenTelemetry: a real `verity serve` configured only by the standard OTEL_* environment exports
 * its spans over OTLP/HTTP (JSON) to a collector this test runs. A decision request carrying a
 * PEP's W3C `traceparent` continues that trace: Fastify's request span is the PEP span's child,
 * and a `verity.decision` span under it names the tenant, the policy version and the decision.
 */
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { context, propagation, trace, TraceFlags } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { createRemoteDecisionSource } from '@verity/enforce';
import { tracesExporterOf } from '@verity/server';
import { eventually } from './helpers/eventually.js';
import { killAll, startServeProcess, type ServeProcess } from './helpers/serve-process.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: Array<{ key: string; value: { stringValue?: string; intValue?: string | number } }>;
}

const spans: OtlpSpan[] = [];
let collector: Server;
let collectorUrl: string;
const processes: ServeProcess[] = [];

beforeAll(async () => {
  // An OTLP/HTTP collector: POST /v1/traces with ExportTraceServiceRequest as JSON.
  collector = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      if (request.url === '/v1/traces') {
        const exported = JSON.parse(body) as { resourceSpans: Array<{ resource: { attributes: OtlpSpan['attributes'] }; scopeSpans: Array<{ spans: OtlpSpan[] }> }> };
        for (const resource of exported.resourceSpans) {
          const service = resource.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue;
          for (const scope of resource.scopeSpans) for (const span of scope.spans) spans.push({ ...span, attributes: [...span.attributes, { key: 'service.name', value: { stringValue: service ?? '' } }] });
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((listening) => collector.listen(0, '127.0.0.1', listening));
  const address = collector.address();
  if (address === null || typeof address === 'string') throw new Error('no collector address');
  collectorUrl = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  await killAll(processes);
  await new Promise((closed) => collector?.close(closed));
});

const attribute = (span: OtlpSpan, key: string) => {
  const value = span.attributes.find((a) => a.key === key)?.value;
  return value?.stringValue ?? (value?.intValue === undefined ? undefined : Number(value.intValue));
};

describe('OpenTelemetry traces', () => {
  it('reads the standard environment: on with an OTLP endpoint or a named exporter, off when disabled or none', () => {
    expect(tracesExporterOf({})).toBeNull();
    expect(tracesExporterOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBe('otlp');
    expect(tracesExporterOf({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' })).toBe('otlp');
    expect(tracesExporterOf({ OTEL_TRACES_EXPORTER: 'console' })).toBe('console');
    expect(tracesExporterOf({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBeNull();
    expect(tracesExporterOf({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBeNull();
    expect(() => tracesExporterOf({ OTEL_TRACES_EXPORTER: 'zipkin' })).toThrow(/otlp, console or none/);
  });

  it("continues a PEP's traceparent: the request span is its child, the decision span names tenant, version and decision", async () => {
    const server = await startServeProcess([], {
      OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'verity-under-test',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    processes.push(server);
    const traceId = randomBytes(16).toString('hex');
    const pepSpanId = randomBytes(8).toString('hex');
    const answer = await fetch(`${server.url}/access/v1/evaluation`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${pepSpanId}-01`, 'x-verity-tier': 'gateway' },
      body: JSON.stringify({ subject: { type: 'user', id: 'CiRmZDM2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs' }, action: { name: 'can_read_todos' }, resource: { type: 'todo', id: 'todo-1' } }),
    });
    expect(((await answer.json()) as { decision: boolean }).decision).toBe(true);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

    // The request span ends after the answer, so it may come in a later export than the decision's.
    await eventually(async () => void expect(spans.some((span) => span.traceId === traceId && span.name === 'verity.decision') && spans.some((span) => span.parentSpanId === pepSpanId)).toBe(true), 20_000);
    const ofTrace = spans.filter((span) => span.traceId === traceId);
    const request = ofTrace.find((span) => span.parentSpanId === pepSpanId);
    expect(request, JSON.stringify(ofTrace.map((s) => s.name))).toBeDefined();
    expect(attribute(request!, 'service.name')).toBe('verity-under-test');
    const decision = ofTrace.find((span) => span.name === 'verity.decision')!;
    expect(attribute(decision, 'verity.tenant')).toBe('demo');
    expect(attribute(decision, 'verity.decision')).toBe('allow');
    expect(attribute(decision, 'verity.policy.version')).toBe(1);
    expect(attribute(decision, 'verity.tier')).toBe('gateway');
    // Under the request: its parent is one of this trace's spans, not the PEP's.
    expect(ofTrace.map((span) => span.spanId)).toContain(decision.parentSpanId);
    // Probes are not traced.
    expect(spans.some((span) => span.attributes.some((a) => a.value.stringValue?.includes('/healthz')))).toBe(false);
  });

  it("never exports a request's query string (a token may be in it; found by attack12)", async () => {
    const server = processes[0]!;
    const secret = `tok_${randomBytes(12).toString('hex')}`;
    // What Caddy's forward_auth sends for GET /todos?access_token=… (docs/gateways.md §5: the query stays on uri).
    await (await fetch(`${server.url}/tenants/demo/gateway/v1/forward-auth?access_token=${secret}`, { headers: { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/todos' } })).text();
    const forwardAuth = () => spans.find((span) => attribute(span, 'url.path') === '/tenants/demo/gateway/v1/forward-auth');
    await eventually(async () => void expect(forwardAuth()).toBeDefined(), 20_000);
    expect(JSON.stringify(spans)).not.toContain(secret);
  });

  it("the SDK's remote source sends the PEP's active trace context: the PDP's spans join the PEP's trace", async () => {
    const server = processes[0]!;
    // What a PEP app's own OpenTelemetry setup does: a context manager and the W3C propagator.
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    const traceId = randomBytes(16).toString('hex');
    const pepSpan = trace.wrapSpanContext({ traceId, spanId: randomBytes(8).toString('hex'), traceFlags: TraceFlags.SAMPLED });
    const source = createRemoteDecisionSource({ url: server.url });
    const decision = await context.with(trace.setSpan(context.active(), pepSpan), () =>
      source.decide({ tenant: 'demo', subject: { type: 'user', id: 'CiRmZDM2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs' }, action: 'can_read_todos', resource: { type: 'todo', id: 'todo-1' }, context: {}, requestId: 'traced-1', tier: 'orders' }),
    );
    expect(decision.decision).toBe('allow');
    await eventually(async () => void expect(spans.some((span) => span.traceId === traceId && span.name === 'verity.decision') && spans.some((span) => span.parentSpanId === pepSpan.spanContext().spanId)).toBe(true), 20_000);
    const ofTrace = spans.filter((span) => span.traceId === traceId);
    expect(ofTrace.filter((span) => span.parentSpanId === pepSpan.spanContext().spanId)).toHaveLength(1);
    expect(attribute(ofTrace.find((span) => span.name === 'verity.decision')!, 'verity.request.id')).toBe('traced-1');
  });
});

/**
 * Shared Signals over HTTP (docs/http-api.md, "Shared Signals"): the RFC 8935 push endpoint a
 * tenant's transmitters POST their SETs to, and the admin API for transmitters and receivers.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { VerityError, type ErrorCode } from '@verity/core';
import { logFailure, toVerityError } from './errors.js';
import { metaOf, requireAdmin, tenantParam, type Components } from './context.js';

/** Largest SET body accepted, bytes: a SET is a few KiB. */
const MAX_SET_BYTES = 64 * 1024;

/** RFC 8935 §2.3 (and the SSF error registry): the `err` a refused push answers with. */
const PUSH_ERRORS: Partial<Record<ErrorCode, string>> = {
  ERR_SSF_SET_INVALID: 'invalid_request',
  ERR_SSF_SET_REPLAYED: 'invalid_request',
  ERR_SSF_SUBJECT_UNSUPPORTED: 'invalid_request',
  ERR_SSF_SET_KEY: 'invalid_key',
  ERR_SSF_SET_ISSUER: 'invalid_issuer',
  ERR_SSF_SET_AUDIENCE: 'invalid_audience',
  ERR_REQUEST_CONTENT_TYPE: 'invalid_request',
};

/** The body the `application/secevent+jwt` parser made: only these are SETs (a JSON string is not). */
class SetBody {
  constructor(readonly token: string) {}
}

const idParam = (request: FastifyRequest): string => String((request.params as { id?: unknown }).id ?? '');

export function registerSsfRoutes(app: FastifyInstance, c: Components): void {
  app.register(async (scope) => {
    scope.addContentTypeParser('application/secevent+jwt', { parseAs: 'string', bodyLimit: MAX_SET_BYTES }, (_request, body, done) => done(null, new SetBody(body.toString().trim())));
    // RFC 8935 §2.3: a refused SET is answered 400 with {err, description}; Verity's code rides along.
    scope.setErrorHandler((error, request, reply) => {
      const verityError = toVerityError(error);
      logFailure(request, verityError, error);
      const err = PUSH_ERRORS[verityError.code];
      if (err === undefined) return reply.status(verityError.status).send(verityError.toJSON());
      return reply.status(400).send({ err, description: verityError.message, code: verityError.code });
    });
    scope.post('/ssf/v1/tenants/:tenant/events', async (request, reply) => {
      const tenant = tenantParam(request, { write: true });
      if (!(request.body instanceof SetBody)) throw new VerityError('ERR_SSF_SET_INVALID', 'the body must be a SET (Content-Type: application/secevent+jwt)');
      const outcome = await c.ssf.receive(tenant, request.body.token, metaOf(request));
      request.log.info({ tenant, transmitter: outcome.transmitter, jti: outcome.jti, applied: outcome.applied, ignored: outcome.ignored }, 'SSF event accepted');
      // RFC 8935 §2.2: 202 Accepted, no body (an event of a type Verity ignores too).
      return reply.code(202).send();
    });
  });

  const transmitters = '/admin/v1/tenants/:tenant/ssf/transmitters';
  const receivers = '/admin/v1/tenants/:tenant/ssf/receivers';
  async function authorized(request: FastifyRequest, write: boolean): Promise<string> {
    const tenant = tenantParam(request, { write });
    await requireAdmin(c, request, write ? 'policy.write' : 'policy.read', tenant);
    return tenant;
  }

  app.put(`${transmitters}/:id`, async (request, reply) => {
    const { transmitter, created } = await c.ssf.putTransmitter(await authorized(request, true), idParam(request), request.body);
    reply.code(created ? 201 : 200);
    return transmitter;
  });
  app.get(transmitters, async (request) => ({ transmitters: await c.ssf.listTransmitters(await authorized(request, false)) }));
  app.delete(`${transmitters}/:id`, async (request, reply) => {
    await c.ssf.removeTransmitter(await authorized(request, true), idParam(request));
    reply.code(204);
  });

  app.put(`${receivers}/:id`, async (request, reply) => {
    const { receiver, created } = await c.ssfTransmitter.putReceiver(await authorized(request, true), idParam(request), request.body);
    reply.code(created ? 201 : 200);
    return receiver;
  });
  app.get(receivers, async (request) => ({ receivers: await c.ssfTransmitter.listReceivers(await authorized(request, false)) }));
  app.delete(`${receivers}/:id`, async (request, reply) => {
    await c.ssfTransmitter.removeReceiver(await authorized(request, true), idParam(request));
    reply.code(204);
  });
}

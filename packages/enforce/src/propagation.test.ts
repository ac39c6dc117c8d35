import { describe, expect, it } from 'vitest';
import { downstreamHeaders, nextTraceparent, stripSpoofableHeaders } from './propagation.js';

const TRACE = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('identity propagation', () => {
  it('passes the token, request id and trace on, and nothing that names a tenant or user', () => {
    const headers = downstreamHeaders({ token: 'a.b.c', requestId: 'req-1', traceparent: TRACE });
    expect(Object.keys(headers).sort()).toEqual(['authorization', 'traceparent', 'x-request-id']);
    expect(headers).toMatchObject({ authorization: 'Bearer a.b.c', 'x-request-id': 'req-1' });
    const [version, traceId, parentId, flags] = headers.traceparent?.split('-') ?? [];
    expect([version, traceId, flags]).toEqual(['00', '4bf92f3577b34da6a3ce929d0e0e4736', '01']);
    expect(parentId).toMatch(/^[0-9a-f]{16}$/);
    expect(parentId).not.toBe('00f067aa0ba902b7');
  });

  it('starts a trace when there is none or it is invalid', () => {
    for (const incoming of [undefined, 'garbage', `ff${TRACE.slice(2)}`, '00-00000000000000000000000000000000-00f067aa0ba902b7-01', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', `${TRACE}-extra`]) {
      const next = nextTraceparent(incoming);
      expect(next).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
      expect(next).not.toContain('4bf92f3577b34da6a3ce929d0e0e4736');
    }
    // A future version with extra fields keeps its trace id (W3C §3.2.2.1).
    expect(nextTraceparent(`01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-ab`)).toContain('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(downstreamHeaders({ requestId: 'r' }).authorization).toBeUndefined();
    expect(downstreamHeaders({ requestId: 'r' })).not.toHaveProperty('txn-token');
  });

  it('passes the Txn-Token on unchanged', () => {
    const headers = downstreamHeaders({ token: 'a.b.c', txnToken: 'txn.tok.en', requestId: 'req-1' });
    expect(headers).toMatchObject({ authorization: 'Bearer a.b.c', 'txn-token': 'txn.tok.en' });
  });

  it('strips identity-claiming headers, whatever their case, from records and Headers', () => {
    const incoming = { 'x-tenant-id': 'globex', 'x-user-id': 'admin', 'x-verity-subject': 'User::"root"', 'x-verity-tier': 'gateway', 'x-forwarded-user': 'root', 'X-Remote-User': 'root', 'x-acme-account': '7', authorization: 'Bearer t', accept: 'application/json' };
    expect(stripSpoofableHeaders(incoming, { also: ['X-Acme-Account'] })).toEqual({ authorization: 'Bearer t', accept: 'application/json' });
    expect(incoming['x-tenant-id']).toBe('globex');
    const headers = stripSpoofableHeaders(new Headers({ 'X-Tenant-Id': 'globex', 'X-User-Id': 'admin', accept: '*/*' }));
    expect([...headers.keys()]).toEqual(['accept']);
  });
});

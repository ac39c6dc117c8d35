/**
 * attack11: a subject revocation (POST /admin/v1/tenants/T/revocations {subject}) through one
 * worker of `verity serve --workers 2` while clients keep asking decisions with the subject's
 * token over fresh connections: once the revocation has returned, no decision that starts
 * afterwards may allow (docs/operations.md "Every core": "A write (…, anything the change feed
 * carries) returns only once every other worker has handled its change, so the next decision
 * on any worker sees it"; docs/continuous-verification.md: "The replica that took the SET applies
 * it before answering"). ATTACK_WORKERS=0 runs the same against one process.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInlineIdp, type InlineIdp } from './helpers/inline-idp.js';
import { fresh, startCluster, WORKERS, type Started } from './helpers/attack11.js';

let c: Started;
let idp: InlineIdp;
const T = 'rv';

beforeAll(async () => {
  c = await startCluster();
  expect((await fresh(c.url, 'POST', '/admin/v1/tenants', { body: { id: T } })).status).toBe(201);
  expect((await fresh(c.url, 'POST', `/admin/v1/tenants/${T}/policies`, { body: { files: { 'p.cedar': 'permit(principal, action, resource);' } } })).status).toBe(201);
  idp = await createInlineIdp({ issuer: 'https://idp.rv.example', audience: 'api' });
  expect((await fresh(c.url, 'PUT', `/admin/v1/tenants/${T}/identity-sources/idp`, { body: idp.source() })).status).toBe(200);
});

afterAll(async () => {
  await c?.close();
});

const decide = (token: string) => fresh(c.url, 'POST', `/tenants/${T}/access/v1/evaluation`, { token: null, body: { token, action: { name: 'read' }, resource: { type: 'doc', id: 'd1' } } });

describe(`${process.env.ATTACK_KIND ?? 'subject'} revocation under concurrent decisions (workers: ${WORKERS})`, () => {
  it('no decision started after the revocation returned allows', async () => {
    const report: string[] = [];
    let lateTotal = 0;
    for (let round = 0; round < 4; round++) {
      const sub = `carol${round}`;
      const jti = randomUUID();
      const token = await idp.token({ sub, jti });
      let stop = false;
      let revokedAt = Infinity;
      let requestedAt = Infinity;
      const late: number[] = [];
      let after = 0;
      const loops = Array.from({ length: 6 }, async () => {
        while (!stop) {
          const sent = Date.now();
          const a = await decide(token);
          if (sent > revokedAt) {
            after++;
            if (a.status === 200) late.push(sent - revokedAt);
          }
        }
      });
      await new Promise((r) => setTimeout(r, 300));
      requestedAt = Date.now();
      const r = await fresh(c.url, 'POST', `/admin/v1/tenants/${T}/revocations`, { body: process.env.ATTACK_KIND === 'jti' ? { jti, exp: Math.floor(Date.now() / 1000) + 300 } : { subject: sub } });
      expect(r.status).toBe(201);
      revokedAt = Date.now();
      await new Promise((r) => setTimeout(r, 800));
      stop = true;
      await Promise.all(loops);
      lateTotal += late.length;
      report.push(`round ${round}: revoke took ${revokedAt - requestedAt} ms; ${after} decisions started after it returned, ${late.length} allowed (sent +${late.join(', +')} ms after)`);
    }
    console.log(report.join('\n'));
    expect(lateTotal, report.join('\n')).toBe(0);
  }, 60_000);
});

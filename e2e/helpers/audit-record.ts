/** The audit record of one request, read back through the admin API once the audit writer stored it. */
import type { Client } from './verity.js';

/**
 * The first audit record of `requestId` in `tenant`, once stored: the audit writer batches, so
 * this asks again (every 20 ms, at most 500 times) and throws if the record never appears.
 */
export async function auditRecordOf(admin: Client, tenant: string, requestId: string): Promise<any> {
  for (let tries = 0; tries < 500; tries++) {
    const [event] = (await admin.get(`/admin/v1/tenants/${tenant}/audit?requestId=${encodeURIComponent(requestId)}`)).body.events as any[];
    if (event !== undefined) return event;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no audit record for ${requestId}`);
}

/** Loads the demo tenant (Todo + API gateway interop scenarios) from examples/demo. */
import { fileURLToPath } from 'node:url';
import type { Components } from './components.js';
import { readPolicyFolder } from './policy-folder.js';

export const DEMO_FOLDER = fileURLToPath(new URL('../../../examples/demo', import.meta.url));

/** Create a tenant from a policy-store folder: tenant, one policy version, its entities. */
export async function loadTenantFromFolder(c: Components, tenant: string, folder: string, name = tenant): Promise<void> {
  const policyFolder = await readPolicyFolder(folder);
  await c.tenants.create({ id: tenant, name });
  await c.policies.push(tenant, {
    files: policyFolder.files,
    links: policyFolder.links,
    validationMode: policyFolder.validationMode,
    ...(policyFolder.schema === undefined ? {} : { schema: policyFolder.schema }),
    createdBy: 'verity',
    message: `loaded from ${folder}`,
  });
  if (policyFolder.entities.length > 0) await c.entities.import(tenant, policyFolder.entities, 'replace');
}

/** Load the demo tenant unless it exists already (a restart keeps what was changed). */
export async function ensureDemoTenant(c: Components, tenant: string): Promise<boolean> {
  if (await c.tenants.exists(tenant)) return false;
  await loadTenantFromFolder(c, tenant, DEMO_FOLDER, 'Demo: AuthZEN Todo + API gateway');
  return true;
}

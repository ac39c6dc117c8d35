/**
 * The policy-store folder reader, shared with the server through its narrow
 * `@verity/server/policy-folder` export (so local commands do not load Fastify and the store
 * drivers), and imported only when a command first reads a folder or entities: it checks
 * verity.json's tenant settings, which pulls @verity/identity and @verity/workload (X.509, ASN.1;
 * about 400 ms) that `verity --help` and most commands never need.
 */
import type { Entity } from '@verity/core';
import type { PolicyFolder } from '@verity/server/policy-folder';

export type { PolicyFolder, PolicyTestCase } from '@verity/server/policy-folder';

const reader = () => import('@verity/server/policy-folder');

/** Reads a policy-store folder (`readPolicyFolder` of @verity/server). */
export async function readPolicyFolder(dir: string): Promise<PolicyFolder> {
  return (await reader()).readPolicyFolder(dir);
}

/** Parses an entities file's text, named `file` in errors (`parseEntitiesJson` of @verity/server). */
export async function parseEntitiesJson(text: string, file: string): Promise<Entity[]> {
  return (await reader()).parseEntitiesJson(text, file);
}

/** Checks parsed entities JSON, named `file` in errors (`checkEntities` of @verity/server). */
export async function checkEntities(json: unknown, file: string): Promise<Entity[]> {
  return (await reader()).checkEntities(json, file);
}

/**
 * The policy-store folder reader, shared with the server. Imported through the narrow
 * `@verity/server/policy-folder` export so local commands (`policy test`, `policy validate`)
 * do not load Fastify and the store drivers (about 400 ms).
 */
export { parseEntitiesJson, readPolicyFolder } from '@verity/server/policy-folder';
export type { PolicyFolder, PolicyTestCase } from '@verity/server/policy-folder';

/**
 * The policy-store folder reader, shared with the server. Imported through the narrow
 * `@verity/server/policy-folder` export so local commands (`policy test`, `policy validate`, `eval`)
 * do not load Fastify and the store drivers (about 400 ms).
 */
export { checkEntities, parseEntitiesJson, readPolicyFolder } from '@verity/server/policy-folder';
export type { PolicyFolder, PolicyTestCase } from '@verity/server/policy-folder';

/** `verity policy push --tenant T DIR`: upload a policy-store folder as one new version. */
import { resolve } from 'node:path';
import type { PolicyVersionInfo } from '@verity/core';
import type { Command } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption } from '../client.js';
import { EXIT, withSources } from '../errors.js';
import { writeLines, writeResult } from '../output.js';
import { readPolicyFolder } from '../policy-folder.js';

export const policyPush: Command = {
  name: 'policy push',
  summary: 'Upload a policy-store folder as one new version',
  usage: '--tenant T DIR [--message M] [--no-activate] [--dry-run]',
  arguments: ['DIR'],
  options: {
    ...tenantOption,
    message: { type: 'string', short: 'm', valueName: 'M', description: 'version message' },
    'no-activate': { type: 'boolean', description: 'store the version without activating it' },
    'dry-run': { type: 'boolean', description: 'let the server validate without storing' },
    ...remoteOptions,
  },
  details: [
    'Sends the *.cedar files, schema.cedarschema, links.json and verity.json\'s validationMode.',
    'Entities are not pushed: load them with `verity entities import --tenant T FILE|DIR`.',
    remoteDetails,
  ].join('\n'),
  async run(args, io) {
    const path = adminTenantPath(args);
    const folder = await withSources({}, () => readPolicyFolder(resolve(io.cwd, args.positionals[0] ?? '')));
    const message = args.values['message'];
    const body = {
      files: folder.files,
      ...(folder.schema === undefined ? {} : { schema: folder.schema }),
      validationMode: folder.validationMode,
      links: folder.links,
      ...(typeof message === 'string' ? { message } : {}),
      activate: args.values['no-activate'] !== true,
      dryRun: args.values['dry-run'] === true,
    };
    const sources = { ...folder.files, ...(folder.schema === undefined ? {} : { 'schema.cedarschema': folder.schema }) };
    const client = clientFromArgs(args, io);
    const answer = await withSources(sources, () => client.request<PolicyVersionInfo | { valid: true }>('POST', `${path}/policies`, { body }));
    writeResult(args, io, answer, () => {
      if (!('version' in answer)) return writeLines(io.stdout, 'valid (dry run, nothing stored)');
      const state = answer.active ? 'active' : 'not activated';
      writeLines(io.stdout, `pushed version ${answer.version} (${state}) sha256:${answer.hash}`);
    });
    return EXIT.OK;
  },
};

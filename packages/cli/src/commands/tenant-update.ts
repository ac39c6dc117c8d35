/** `verity tenant update ID`: change a tenant's settings (a merge patch: given keys replace, --unset removes). */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isPlainObject, type Tenant } from '@verity/core';
import type { Command, ParsedArgs } from '../command.js';
import { clientFromArgs, remoteDetails, remoteOptions, type RequestOptions } from '../client.js';
import { parsePositiveInt } from '../arguments.js';
import { cliError, EXIT, usageError } from '../errors.js';
import { writeJson, writeLines, writeResult } from '../output.js';

function list(args: ParsedArgs, name: string): readonly string[] {
  const value = args.values[name];
  return Array.isArray(value) ? value : [];
}

async function readSettingsFile(cwd: string, file: string): Promise<Record<string, unknown>> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(resolve(cwd, file), 'utf8'));
  } catch (error) {
    if (error instanceof SyntaxError) throw cliError('ERR_CLI_SETTINGS_FILE', `${file} is not JSON`);
    throw error;
  }
  if (!isPlainObject(value)) throw cliError('ERR_CLI_SETTINGS_FILE', `${file} must hold a JSON object of settings`);
  return value;
}

/** `KEY=VALUE`: VALUE is JSON (`true`, `["/a"]`, `{"user": "User"}`), or else taken as a string. */
function parseSet(text: string): [string, unknown] {
  const at = text.indexOf('=');
  if (at < 1) throw usageError(`--set must be KEY=VALUE, got '${text}'`);
  const raw = text.slice(at + 1);
  try {
    return [text.slice(0, at), JSON.parse(raw)];
  } catch {
    return [text.slice(0, at), raw];
  }
}

/** The settings patch from --settings-file, then --set (which wins), then --unset (null: remove). */
async function settingsPatch(args: ParsedArgs, cwd: string): Promise<Record<string, unknown>> {
  const file = args.values['settings-file'];
  const patch = typeof file === 'string' ? await readSettingsFile(cwd, file) : {};
  for (const text of list(args, 'set')) {
    const [key, value] = parseSet(text);
    patch[key] = value;
  }
  for (const key of list(args, 'unset')) patch[key] = null;
  if (Object.keys(patch).length === 0) throw usageError('give --settings-file, --set or --unset (see verity tenant update --help)');
  return patch;
}

/**
 * The message and `If-Match` of a settings change (`tenant update`, `tenant rollback`): the
 * change is stored as a new settings version with the message, and with --if-version only while
 * the settings are still at that version.
 */
export function settingsChangeRequest(args: ParsedArgs, body: Record<string, unknown>): RequestOptions {
  const message = args.values['message'];
  const ifVersion = args.values['if-version'];
  return {
    body: typeof message === 'string' ? { ...body, message } : body,
    ...(typeof ifVersion === 'string' ? { headers: { 'if-match': `"${parsePositiveInt(ifVersion, '--if-version')}"` } } : {}),
  };
}

/** The flags of {@link settingsChangeRequest}. */
export const settingsChangeOptions = {
  message: { type: 'string', short: 'm', valueName: 'M', description: 'a message kept with the settings version this makes' },
  'if-version': { type: 'string', valueName: 'N', description: 'change only while the settings are at version N (else exit 3, nothing changed)' },
} as const;

export const tenantUpdate: Command = {
  name: 'tenant update',
  summary: "Change a tenant's settings",
  usage: 'ID [--settings-file FILE] [--set KEY=VALUE…] [--unset KEY…] [-m MESSAGE] [--if-version N]',
  arguments: ['ID'],
  options: {
    'settings-file': { type: 'string', valueName: 'FILE', description: 'a JSON object of settings to set (null removes one)' },
    set: { type: 'string', valueName: 'KEY=VALUE', multiple: true, description: 'set one setting; VALUE is JSON, or else a string' },
    unset: { type: 'string', valueName: 'KEY', multiple: true, description: 'remove one setting' },
    ...settingsChangeOptions,
    ...remoteOptions,
  },
  details: [
    'Settings: typeMapping, actionType, stsPrincipalType, gatewayRoutes, gatewayAudience, gatewayRouteAudiences,',
    'validateRequests, recordDecisionInputs, trust_domain, federated_tenants, k8s_psat, risk, reasons',
    '(see docs/http-api.md). A setting given replaces that setting whole; settings not named',
    'stay as they are. The server checks them as at tenant creation: an invalid change alters',
    'nothing (exit 3). Each change is kept as a new settings version, with who made it and the',
    'message (`verity tenant versions`, `tenant diff`, `tenant rollback`).',
    '',
    "Example: verity tenant update acme --set validateRequests=true --set 'gatewayRoutes=[\"/todos/{id}\"]'",
    remoteDetails,
  ].join('\n'),
  async run(args, io) {
    const id = args.positionals[0] ?? '';
    const settings = await settingsPatch(args, io.cwd);
    const tenant = await clientFromArgs(args, io).request<Tenant>('PATCH', `/admin/v1/tenants/${encodeURIComponent(id)}`, settingsChangeRequest(args, { settings }));
    writeResult(args, io, tenant, () => {
      writeLines(io.stdout, `updated tenant ${tenant.id}; its settings are now version ${tenant.settingsVersion}:`);
      writeJson(io.stdout, tenant.settings);
    });
    return EXIT.OK;
  },
};

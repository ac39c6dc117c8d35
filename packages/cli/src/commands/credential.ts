/** `verity credential list|create|revoke|rotate`: admin, policy-author and PEP credentials. */
import { CREDENTIAL_ROLES, CREDENTIAL_ROLE_LIST, isCredentialRole } from '@verity/server/credential-roles';
import type { Command } from '../command.js';
import { clientFromArgs, remoteDetails, remoteOptions } from '../client.js';
import { EXIT, usageError } from '../errors.js';
import type { ParsedArgs } from '../command.js';
import { show, writeLines, writeResult, writeTable } from '../output.js';

interface CredentialView {
  id: string;
  role: string;
  tenant: string | null;
  label: string;
  createdAt: string;
  revokedAt: string | null;
  /** Only in the answers of create and rotate. */
  token?: string;
}

const scopeOption = {
  tenant: { type: 'string', short: 't', valueName: 'T', description: "one tenant's credentials (default: all, platform-wide)" },
} as const;

const details = [
  'Credentials are Bearer tokens for the admin and decision APIs. Only their SHA-256 is stored:',
  'a token is printed once, by create or rotate, and list never shows one. Revoke and rotate take',
  'effect at once on every replica. Only platform admins may manage credentials; the last active',
  'platform-admin credential cannot be revoked.',
  remoteDetails,
].join('\n');

/** The credentials path: `/admin/v1/credentials`, or a tenant's with --tenant. */
function basePath(args: ParsedArgs): string {
  const tenant = args.values['tenant'];
  if (tenant === undefined) return '/admin/v1/credentials';
  if (typeof tenant !== 'string' || tenant === '') throw usageError('--tenant must not be empty');
  return `/admin/v1/tenants/${encodeURIComponent(tenant)}/credentials`;
}

function idArgument(args: ParsedArgs): string {
  const id = args.positionals[0] ?? '';
  if (!/^[\w.-]{1,128}$/.test(id)) throw usageError('ID must be a credential id as `verity credential list` shows it');
  return id;
}

/** Print a new token once, on its own line, so scripts can take it (`| tail -1`). */
function writeToken(io: Parameters<Command['run']>[1], credential: CredentialView, what: string): void {
  writeLines(io.stdout, `${what} ${credential.role} credential ${credential.id}${credential.tenant ? ` for tenant ${credential.tenant}` : ''}. Its token is shown once; keep it safe:`, credential.token ?? '');
}

export const credentialList: Command = {
  name: 'credential list',
  summary: 'List credentials (never their tokens)',
  usage: '[--tenant T]',
  arguments: [],
  options: { ...scopeOption, ...remoteOptions },
  details,
  async run(args, io) {
    const answer = await clientFromArgs(args, io).request<{ credentials: CredentialView[] }>('GET', basePath(args));
    writeResult(args, io, answer, () =>
      writeTable(
        io.stdout,
        answer.credentials,
        [
          { header: 'ID', cell: (c) => c.id },
          { header: 'ROLE', cell: (c) => c.role },
          { header: 'TENANT', cell: (c) => show(c.tenant) },
          { header: 'LABEL', cell: (c) => show(c.label) },
          { header: 'CREATED', cell: (c) => c.createdAt },
          { header: 'REVOKED', cell: (c) => show(c.revokedAt) },
        ],
        'no credentials',
      ),
    );
    return EXIT.OK;
  },
};

export const credentialCreate: Command = {
  name: 'credential create',
  summary: 'Create a credential and print its token once',
  usage: '--role platform-admin|monitor|policy-author|pep|pep-local [--tenant T] [--label TEXT]',
  arguments: [],
  options: {
    role: { type: 'string', valueName: 'ROLE', description: 'platform-admin, monitor (reads /metrics), policy-author (one tenant), pep (decisions for one tenant) or pep-local (also its bundle)' },
    tenant: { type: 'string', short: 't', valueName: 'T', description: 'the tenant of a policy-author or pep credential' },
    label: { type: 'string', valueName: 'TEXT', description: 'a note for people (who or what uses it)' },
    ...remoteOptions,
  },
  details,
  async run(args, io) {
    const role = args.values['role'];
    if (!isCredentialRole(role)) throw usageError(`--role must be ${CREDENTIAL_ROLE_LIST}`);
    const tenant = args.values['tenant'];
    const platformWide = CREDENTIAL_ROLES[role] === 'platform';
    if (!platformWide && typeof tenant !== 'string') throw usageError(`a ${role} credential needs --tenant`);
    if (platformWide && tenant !== undefined) throw usageError(`a ${role} credential has no --tenant`);
    const label = args.values['label'];
    const answer = await clientFromArgs(args, io).request<CredentialView>('POST', '/admin/v1/credentials', { body: { role, ...(typeof tenant === 'string' ? { tenant } : {}), ...(typeof label === 'string' ? { label } : {}) } });
    writeResult(args, io, answer, () => writeToken(io, answer, 'created'));
    return EXIT.OK;
  },
};

/** `credential revoke` and `credential rotate`: POST to the credential's `/{verb}` and report. */
function credentialAction(verb: 'revoke' | 'rotate', summary: string, report: (io: Parameters<Command['run']>[1], answer: CredentialView) => void): Command {
  return {
    name: `credential ${verb}`,
    summary,
    usage: 'ID [--tenant T]',
    arguments: ['ID'],
    options: { ...scopeOption, ...remoteOptions },
    details,
    async run(args, io) {
      const id = idArgument(args);
      const answer = await clientFromArgs(args, io).request<CredentialView>('POST', `${basePath(args)}/${id}/${verb}`);
      writeResult(args, io, answer, () => report(io, answer));
      return EXIT.OK;
    },
  };
}

export const credentialRevoke = credentialAction('revoke', 'Revoke a credential at once', (io, answer) => writeLines(io.stdout, `revoked credential ${answer.id}`));

export const credentialRotate = credentialAction('rotate', 'Give a credential a new token (the old one stops working) and print it once', (io, answer) => writeToken(io, answer, 'rotated'));

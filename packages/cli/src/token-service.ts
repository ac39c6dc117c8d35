/** Shared by the `token` commands: client credentials from the environment, token input, token-endpoint answers. */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { CommandIo, ParsedArgs } from './command.js';
import { clientFromArgs, formEncode, tenantSegment } from './client.js';
import { cliError, usageError } from './errors.js';
import { writeJson, writeLines } from './output.js';

/** Help text shared by the commands that authenticate as a token-service client. */
export const clientCredentialDetails =
  'Authenticates as a token-service client with client_secret_basic, from VERITY_CLIENT_ID and\nVERITY_CLIENT_SECRET (there are no flags for them; neither is ever printed).';

/** A token larger than this is not a token (the server refuses anything over 16 KiB too). */
const MAX_TOKEN_INPUT = 64 * 1024;

/** The token endpoint's answer (RFC 6749 §5.1, RFC 8693 §2.2.1). */
export interface TokenResponse {
  access_token?: unknown;
  token_type?: unknown;
  expires_in?: unknown;
  scope?: unknown;
  issued_token_type?: unknown;
}

/**
 * `Authorization: Basic …` for a client id and secret. RFC 6749 §2.3.1: each is
 * form-urlencoded before they are joined with `:` and base64-encoded, so a `:` or a
 * non-ASCII character in either survives.
 */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  const encode = (value: string): string => formEncode({ v: value }).slice('v='.length);
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`, 'utf8').toString('base64')}`;
}

/** The Authorization header for the client in VERITY_CLIENT_ID and VERITY_CLIENT_SECRET; a usage error when either is unset. */
export function clientAuthorization(io: CommandIo): string {
  const id = io.env['VERITY_CLIENT_ID'];
  const secret = io.env['VERITY_CLIENT_SECRET'];
  if (!id || !secret) throw usageError('set VERITY_CLIENT_ID and VERITY_CLIENT_SECRET to the token-service client to authenticate as');
  return basicAuthorization(id, secret);
}

/** POSTs a form to the tenant's OAuth endpoint (`token` or `revoke`) as the client from the environment. */
export async function postAsClient<T>(args: ParsedArgs, io: CommandIo, endpoint: 'token' | 'revoke', form: Record<string, string | undefined>): Promise<T> {
  const path = `/tenants/${tenantSegment(args)}/oauth2/${endpoint}`;
  const authorization = clientAuthorization(io);
  // 'none': the admin token has no business at the OAuth endpoints; the client authenticates itself.
  return clientFromArgs(args, io, 'none').request<T>('POST', path, { form, headers: { authorization } });
}

/** Standard input as text, read until `limit` characters are passed (the caller then refuses it). */
export async function readStdin(io: CommandIo, limit = MAX_TOKEN_INPUT): Promise<string> {
  if (!io.stdin) throw usageError('standard input is not available; pass a file instead of -');
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of io.stdin) {
    text += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    if (text.length > limit) break;
  }
  return text + decoder.decode();
}

/**
 * Reads a token from FILE, or from standard input when FILE is `-`. Surrounding whitespace
 * is dropped. Messages name the file, never the content.
 */
export async function readToken(file: string, io: CommandIo): Promise<string> {
  const text = file === '-' ? await readStdin(io) : await readFile(resolve(io.cwd, file), 'utf8');
  const token = text.trim();
  const where = file === '-' ? 'standard input' : file;
  if (token === '') throw cliError('ERR_CLI_TOKEN_EMPTY', `no token in ${where}`);
  if (token.length > MAX_TOKEN_INPUT || /\s/.test(token)) throw cliError('ERR_CLI_TOKEN_MALFORMED', `${where} does not hold exactly one token`);
  return token;
}

/**
 * Prints a token-endpoint answer: with `--json` the whole answer; otherwise only the access
 * token on stdout (so `$(verity token issue …)` captures it) and its type, lifetime and scope
 * on stderr.
 */
export function writeTokenResponse(args: ParsedArgs, io: CommandIo, answer: TokenResponse): void {
  if (typeof answer.access_token !== 'string' || answer.access_token === '') {
    throw cliError('ERR_CLI_BAD_ANSWER', 'the token endpoint answered without an access_token');
  }
  if (args.values['json'] === true) return writeJson(io.stdout, answer);
  writeLines(io.stdout, answer.access_token);
  const facts = [`type ${typeof answer.token_type === 'string' ? answer.token_type : '-'}`];
  if (typeof answer.expires_in === 'number') {
    facts.push(`expires in ${answer.expires_in}s (${new Date(Date.now() + answer.expires_in * 1000).toISOString()})`);
  }
  facts.push(`scope ${typeof answer.scope === 'string' && answer.scope !== '' ? answer.scope : '-'}`);
  writeLines(io.stderr, facts.join(', '));
}

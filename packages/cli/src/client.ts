/** The HTTP client remote commands use: base URL from --url/VERITY_URL, token from VERITY_ADMIN_TOKEN. */
import type { Diagnostic } from '@verity/core';
import type { CommandIo, OptionSpec, ParsedArgs } from './command.js';
import { cliError, CliError, exitCodeForStatus, usageError } from './errors.js';

/** Where the CLI looks for a server when neither --url nor VERITY_URL is set. */
export const DEFAULT_URL = 'http://127.0.0.1:8181';

/** Flags every remote command takes. */
export const remoteOptions: Readonly<Record<string, OptionSpec>> = {
  url: { type: 'string', valueName: 'URL', description: `Verity server (env VERITY_URL, default ${DEFAULT_URL})` },
};

/** The `--tenant` flag, required by tenant-scoped commands. */
export const tenantOption: Readonly<Record<string, OptionSpec>> = {
  tenant: { type: 'string', short: 't', valueName: 'T', description: 'tenant id (required)' },
};

/** Text shared by remote commands' help. */
export const remoteDetails = 'Authenticates with the credential in VERITY_ADMIN_TOKEN (sent as a Bearer token, never printed).';

/** One request's payload and extras; `body` is sent as JSON, `form` as a form-urlencoded body (OAuth endpoints). */
export interface RequestOptions {
  body?: unknown;
  form?: Readonly<Record<string, string | undefined>>;
  query?: Record<string, string | undefined>;
  /** Extra headers, e.g. a client's Basic credentials; they win over the client's own. */
  headers?: Readonly<Record<string, string>>;
}

export interface VerityClient {
  /** The server's base URL without credentials, safe to print. */
  readonly url: string;
  /** Sends one request; resolves to the parsed JSON answer or throws CliError. */
  request<T>(method: string, path: string, options?: RequestOptions): Promise<T>;
}

export interface CreateClientOptions {
  url: string;
  token: string | undefined;
  fetch: typeof globalThis.fetch;
  signal?: AbortSignal | undefined;
}

function parseBaseUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`--url must be an http(s) URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError('--url must be an http(s) URL');
  return url;
}

async function readError(response: Response): Promise<CliError> {
  const text = await response.text().catch(() => '');
  let body: { code?: unknown; message?: unknown; diagnostics?: unknown } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // Not a Verity error body (e.g. a proxy's HTML page): fall back to the status line.
  }
  const code = typeof body.code === 'string' ? body.code : `HTTP_${response.status}`;
  const message = typeof body.message === 'string' ? body.message : `HTTP ${response.status} ${response.statusText}`.trim();
  const diagnostics = Array.isArray(body.diagnostics) ? (body.diagnostics as Diagnostic[]) : [];
  return new CliError(exitCodeForStatus(response.status), code, message, diagnostics);
}

/** Creates a client. The token goes only into the Authorization header, never into messages. */
export function createClient(options: CreateClientOptions): VerityClient {
  const base = parseBaseUrl(options.url);
  base.username = '';
  base.password = '';
  const root = base.href.replace(/\/+$/, '');
  return {
    url: root,
    async request<T>(method: string, path: string, opts: RequestOptions = {}) {
      const target = new URL(root + path);
      for (const [key, value] of Object.entries(opts.query ?? {})) if (value !== undefined) target.searchParams.set(key, value);
      const headers: Record<string, string> = { accept: 'application/json' };
      if (options.token) headers['authorization'] = `Bearer ${options.token}`;
      const init: RequestInit = { method, headers };
      if (opts.body !== undefined) {
        headers['content-type'] = 'application/json';
        init.body = JSON.stringify(opts.body);
      } else if (opts.form !== undefined) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        init.body = formEncode(opts.form);
      }
      Object.assign(headers, opts.headers);
      if (options.signal) init.signal = options.signal;
      let response: Response;
      try {
        response = await options.fetch(target, init);
      } catch (error) {
        if (options.signal?.aborted) throw cliError('ERR_CLI_INTERRUPTED', 'interrupted');
        const cause = (error as { cause?: { code?: unknown } }).cause?.code;
        const why = typeof cause === 'string' ? cause : (error as Error).message;
        throw cliError('ERR_CLI_UNREACHABLE', `cannot reach Verity at ${root} (${why})`);
      }
      if (!response.ok) throw await readError(response);
      const text = await response.text();
      return (text === '' ? {} : JSON.parse(text)) as T;
    },
  };
}

/** `application/x-www-form-urlencoded` (WHATWG URLSearchParams rules); undefined values are left out. */
export function formEncode(fields: Readonly<Record<string, string | undefined>>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) params.append(key, value);
  return params.toString();
}

/**
 * A client configured from `--url` and VERITY_URL. It sends VERITY_ADMIN_TOKEN unless
 * `credential` is `'none'` (OAuth endpoints, where the caller authenticates per request).
 */
export function clientFromArgs(args: ParsedArgs, io: CommandIo, credential: 'admin' | 'none' = 'admin'): VerityClient {
  const flag = args.values['url'];
  const url = typeof flag === 'string' ? flag : (io.env['VERITY_URL'] ?? DEFAULT_URL);
  const token = credential === 'admin' ? io.env['VERITY_ADMIN_TOKEN'] : undefined;
  return createClient({ url, token, fetch: io.fetch, signal: io.signal });
}

/** The required `--tenant` value, URL-encoded for a path segment. */
export function tenantSegment(args: ParsedArgs): string {
  const tenant = args.values['tenant'];
  if (typeof tenant !== 'string' || tenant === '') throw usageError('--tenant is required');
  return encodeURIComponent(tenant);
}

/** `/admin/v1/tenants/{tenant}` for the required `--tenant`. */
export function adminTenantPath(args: ParsedArgs): string {
  return `/admin/v1/tenants/${tenantSegment(args)}`;
}

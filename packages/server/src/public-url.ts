/**
 * The URL Verity names itself by: the base of the AuthZEN metadata, of every tenant's issuer
 * (`iss`), discovery document and token endpoint, and of default audiences. One place, so no
 * URL Verity hands out ever follows a request's `Host` header.
 */
import type { ServerConfig } from './config.js';

/**
 * The server's public base URL, without a trailing slash: `publicUrl` when configured (the
 * address clients use behind a TLS proxy), else the address the server listens on.
 *
 * @param listenUrl - `http://host:port` as bound (known after listen: port 0 picks one).
 */
export function publicBaseUrl(config: Pick<ServerConfig, 'publicUrl'>, listenUrl: string): string {
  return (config.publicUrl ?? listenUrl).replace(/\/+$/, '');
}

/** A tenant's base URL (`{base}/tenants/{tenant}`): its issuer, and the default audience of its endpoints. */
export function tenantBaseUrl(baseUrl: string, tenant: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/tenants/${tenant}`;
}

/** Where the server and each tenant are reachable, from configuration only (never a request's Host header). */
import type { ServerConfig } from './config.js';

/**
 * The server's public base URL without a trailing slash: `publicUrl` when configured, otherwise
 * `http://{host}:{port}` of the address it listens on (`boundPort` once known, for `port: 0`).
 *
 * @example
 * serverBaseUrl({ publicUrl: null, host: '127.0.0.1', port: 8181 }); // 'http://127.0.0.1:8181'
 */
export function serverBaseUrl(config: Pick<ServerConfig, 'publicUrl' | 'host' | 'port'>, boundPort?: number): string {
  if (config.publicUrl) return config.publicUrl.replace(/\/+$/, '');
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return `http://${host}:${boundPort ?? config.port}`;
}

/**
 * A tenant's public base URL, `{serverBaseUrl}/tenants/{tenant}`: its token service's issuer,
 * and the audience the gateway endpoints require when the tenant sets no `gatewayAudience`.
 *
 * @example
 * tenantBaseUrl({ publicUrl: 'https://verity.example', host: '0.0.0.0', port: 8181 }, 'acme'); // 'https://verity.example/tenants/acme'
 */
export function tenantBaseUrl(config: Pick<ServerConfig, 'publicUrl' | 'host' | 'port'>, tenant: string, boundPort?: number): string {
  return `${serverBaseUrl(config, boundPort)}/tenants/${tenant}`;
}

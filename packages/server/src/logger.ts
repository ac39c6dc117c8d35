/** The server's structured JSON log (pino): one logger per server, secrets redacted by path. */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger } from 'pino';

/**
 * Paths pino replaces with `[redacted]` wherever they appear in a log object. Verity never
 * puts a credential into a log call on purpose; this is the second line when something does
 * (a request logged at `debug`, an error carrying its request options).
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["x-verity-credential"]',
  'req.headers["proxy-authorization"]',
  'req.headers.cookie',
  'headers.authorization',
  '*.headers.authorization',
  'authorization',
  '*.authorization',
  'token',
  '*.token',
  'access_token',
  '*.access_token',
  'subject_token',
  '*.subject_token',
  'actor_token',
  '*.actor_token',
  'refresh_token',
  '*.refresh_token',
  'secret',
  '*.secret',
  'client_secret',
  '*.client_secret',
  'clientSecret',
  '*.clientSecret',
  'password',
  '*.password',
  'adminToken',
  '*.adminToken',
  'masterKey',
  '*.masterKey',
  'credential',
  '*.credential',
];

export interface CreateLoggerOptions {
  level: LogLevel;
  /** Where lines go; default stdout. Tests pass a stream to read or to keep their output clean. */
  stream?: DestinationStream;
}

export function createLogger({ level, stream }: CreateLoggerOptions): Logger {
  return pino({ level, base: { name: 'verity' }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, stream ?? pino.destination({ dest: 1, sync: false }));
}

/** A connection string without its password, for the start-up line. */
export function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable database URL)';
  }
}

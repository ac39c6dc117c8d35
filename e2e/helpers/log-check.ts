/**
 * Vitest global setup: empties `.test-logs/` before the run and, after it, fails the run if any
 * test server's log holds a credential (`vrt_…`), a client secret (`vcs_…`) or a JWT. Every
 * e2e server logs there (e2e/helpers/verity.ts), so this greps the whole suite's log output.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const LOG_DIR = fileURLToPath(new URL('../../.test-logs/', import.meta.url));

/** What a secret looks like when it leaks: generated credentials, client secrets, compact JWS/JWT. */
export const SECRET_PATTERNS: readonly RegExp[] = [/vrt_[A-Za-z0-9_-]{20,}/, /vcs_[A-Za-z0-9_-]{20,}/, /eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/];

/** Lines of `text` that match a secret pattern (with the file name, for the report). */
export function findSecrets(text: string, patterns: readonly RegExp[] = SECRET_PATTERNS): string[] {
  return text.split('\n').filter((line) => patterns.some((pattern) => pattern.test(line)));
}

export function setup(): () => void {
  rmSync(LOG_DIR, { recursive: true, force: true });
  return () => {
    if (!existsSync(LOG_DIR)) return;
    const leaks: string[] = [];
    for (const name of readdirSync(LOG_DIR)) {
      for (const line of findSecrets(readFileSync(`${LOG_DIR}${name}`, 'utf8'))) leaks.push(`${name}: ${line.slice(0, 200).replace(/(vrt_|vcs_|eyJ)[A-Za-z0-9_.-]+/g, '$1…')}`);
    }
    if (leaks.length === 0) return;
    // Vitest reports an error thrown here but still exits 0: set the exit code too.
    process.exitCode = 1;
    throw new Error(`test server logs hold ${leaks.length} secret-looking value(s):\n${leaks.slice(0, 20).join('\n')}`);
  };
}

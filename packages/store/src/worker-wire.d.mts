/** Types of worker-wire.mjs (plain JavaScript run by the store's threads). */
import type { WireError } from './worker-host.js';

/** An error as it crosses a thread or process: its message and every primitive field. */
export function serializeError(error: unknown, extra?: Record<string, string | number | boolean>): WireError;

/** `verity audit tail --tenant T`: print a tenant's latest decisions, optionally following new ones. */
import { formatEntityUid } from '@verity/core';
import type { AuditEvent } from '@verity/core';
import { parsePositiveInt } from '../arguments.js';
import type { Command, CommandIo, ParsedArgs } from '../command.js';
import { adminTenantPath, clientFromArgs, remoteDetails, remoteOptions, tenantOption, type VerityClient } from '../client.js';
import { EXIT } from '../errors.js';
import { wantsJson, writeLines } from '../output.js';

interface AuditPage {
  events: AuditEvent[];
  next: string | number | null;
}

/** Page size for reading the log; the server may answer with fewer. */
const PAGE = 500;

function formatEvent(e: AuditEvent): string {
  const reasons = e.reasons.length > 0 ? ` by ${e.reasons.join(',')}` : '';
  const who = `${formatEntityUid(e.principal)} ${formatEntityUid(e.action)} ${formatEntityUid(e.resource)}`;
  return `${e.seq} ${e.time} ${e.decision.padEnd(5)} ${who} v${e.policyVersion}${reasons}`;
}

function print(args: ParsedArgs, io: CommandIo, events: readonly AuditEvent[]): void {
  // With --json, one event per line (NDJSON), so `--follow --json` can be piped.
  for (const e of events) writeLines(io.stdout, wantsJson(args) ? JSON.stringify(e) : formatEvent(e));
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), done()), { once: true });
  });
}

/** Reads from `after` to the end; returns the events and the cursor to continue from. */
async function readToEnd(client: VerityClient, path: string, after: string | undefined, keep: number): Promise<{ events: AuditEvent[]; after: string | undefined }> {
  let events: AuditEvent[] = [];
  for (;;) {
    const page = await client.request<AuditPage>('GET', path, { query: { after, limit: String(PAGE) } });
    events = [...events, ...page.events].slice(-keep);
    const last = page.events.at(-1);
    if (last) after = String(last.seq);
    if (page.next === null || page.next === undefined || page.events.length === 0) return { events, after };
    after = String(page.next);
  }
}

export const auditTail: Command = {
  name: 'audit tail',
  summary: "Print a tenant's latest audited decisions",
  usage: '--tenant T [--limit N] [--follow]',
  arguments: [],
  options: {
    ...tenantOption,
    limit: { type: 'string', short: 'n', valueName: 'N', description: 'how many of the latest events to print (default 20)' },
    follow: { type: 'boolean', short: 'f', description: 'keep polling and print new events until interrupted' },
    interval: { type: 'string', valueName: 'MS', description: 'poll interval with --follow (default 1000)' },
    ...remoteOptions,
  },
  details: `With --json, prints one JSON event per line.\n${remoteDetails}`,
  async run(args, io) {
    const path = `${adminTenantPath(args)}/audit`;
    const limit = parsePositiveInt((args.values['limit'] as string | undefined) ?? '20', '--limit');
    const interval = parsePositiveInt((args.values['interval'] as string | undefined) ?? '1000', '--interval');
    const client = clientFromArgs(args, io);
    let { events, after } = await readToEnd(client, path, undefined, limit);
    print(args, io, events);
    while (args.values['follow'] === true && io.signal?.aborted !== true) {
      await sleep(interval, io.signal);
      if (io.signal?.aborted) break;
      try {
        ({ events, after } = await readToEnd(client, path, after, Number.MAX_SAFE_INTEGER));
      } catch (error) {
        if (io.signal?.aborted) break; // Interrupted mid-poll: following ends normally.
        throw error;
      }
      print(args, io, events);
    }
    return EXIT.OK;
  },
};

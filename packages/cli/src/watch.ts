/** Re-running a local command when its folder changes: `verity policy test DIR --watch`. */
import { watch, type FSWatcher } from 'node:fs';
import { resolve } from 'node:path';
import type { CommandIo } from './command.js';
import { EXIT, toCliError } from './errors.js';
import { writeError, writeLines } from './output.js';

/** Changes closer together than this (ms) are one change: an editor's save is often several writes. */
export const WATCH_SETTLE_MS = 150;

/**
 * Runs `once` now and again after every change under `dir` (recursively; `node:fs` `watch`), one
 * run at a time: changes during a run start one more run after it. A run that throws (a policy
 * that does not parse, a test file that is not JSON) prints its error as the CLI would and the
 * watch goes on. Ends when `io.signal` aborts (SIGINT/SIGTERM) and resolves to the last run's
 * exit code; without a signal it runs once.
 *
 * @param dir the folder to watch, relative to `io.cwd`
 * @param once one run: prints its report and resolves to its exit code
 */
export async function watchFolder(dir: string, io: CommandIo, json: boolean, once: () => Promise<number>): Promise<number> {
  const attempt = async (): Promise<number> => {
    try {
      return await once();
    } catch (error) {
      return writeError(io, toCliError(error), json);
    }
  };
  let last = await attempt();
  const signal = io.signal;
  if (signal === undefined || signal.aborted) return last;
  return new Promise<number>((done) => {
    let timer: NodeJS.Timeout | undefined;
    let running: Promise<void> | null = null;
    let pending = false;
    const rerun = (): void => {
      if (running !== null) {
        pending = true;
        return;
      }
      running = (async () => {
        if (!json) writeLines(io.stdout, '', `-- change in ${dir}: running again (Ctrl-C ends the watch)`);
        last = await attempt();
      })().finally(() => {
        running = null;
        if (pending && !signal.aborted) {
          pending = false;
          rerun();
        }
      });
    };
    let watcher: FSWatcher;
    try {
      watcher = watch(resolve(io.cwd, dir), { recursive: true }, () => {
        clearTimeout(timer);
        timer = setTimeout(rerun, WATCH_SETTLE_MS);
      });
    } catch (error) {
      done(writeError(io, toCliError(error), json));
      return;
    }
    watcher.on('error', (error) => {
      writeError(io, toCliError(error), json);
      finish(EXIT.INVALID_INPUT);
    });
    const finish = (code?: number): void => {
      clearTimeout(timer);
      watcher.close();
      void (running ?? Promise.resolve()).then(() => done(code ?? last));
    };
    signal.addEventListener('abort', () => finish(), { once: true });
  });
}

/** Re-running a local command when its folder changes: `verity policy test DIR --watch`. */
import { statSync, watch, type FSWatcher } from 'node:fs';
import { resolve } from 'node:path';
import type { CommandIo } from './command.js';
import { toCliError } from './errors.js';
import { writeError, writeLines } from './output.js';

/** Changes closer together than this (ms) are one change: an editor's save is often several writes. */
export const WATCH_SETTLE_MS = 150;
/**
 * How often (ms) the watch checks that the folder is still the one it watches. Node's recursive
 * `fs.watch` may stop without an event when the folder itself is removed or replaced; this check
 * notices (the path is gone, or names another folder),
 * runs once more (which reports the missing folder) and watches again once it is back. It also
 * keeps the process alive until the signal.
 */
export const WATCH_FOLDER_CHECK_MS = 500;

/**
 * What tells one folder from another made at the same path, or null when `path` is not a folder:
 * its inode number and creation time (a folder removed and made again often gets the same inode
 * number back; where the file system keeps no creation time, the change time stands in).
 */
const folderId = (path: string): string | null => {
  try {
    const stats = statSync(path);
    return stats.isDirectory() ? `${stats.ino}:${stats.birthtimeMs || stats.ctimeMs}` : null;
  } catch {
    return null;
  }
};

/**
 * Runs `once` now and again after every change under `dir` (recursively; `node:fs` `watch`), one
 * run at a time: changes during a run start one more run after it. A run that throws (a policy
 * that does not parse, a test file that is not JSON, the folder gone) prints its error as the CLI
 * would and the watch goes on; a folder removed and made again is watched again. Ends when
 * `io.signal` aborts (SIGINT/SIGTERM) and resolves to the last run's exit code; without a signal
 * it runs once.
 *
 * @param dir the folder to watch, relative to `io.cwd`
 * @param json whether errors are printed as `--json` documents
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
  const path = resolve(io.cwd, dir);

  return new Promise<number>((done) => {
    let timer: NodeJS.Timeout | undefined;
    let running: Promise<void> | null = null;
    let pending = false;
    let watcher: FSWatcher | null = null;
    /** The {@link folderId} of the folder `watcher` watches. */
    let watched: string | null = null;

    const rerun = (): void => {
      if (signal.aborted) return;
      if (running !== null) {
        pending = true;
        return;
      }
      running = (async () => {
        if (!json) writeLines(io.stdout, '', `-- change in ${dir}: running again (Ctrl-C ends the watch)`);
        last = await attempt();
      })().finally(() => {
        running = null;
        if (pending) {
          pending = false;
          rerun();
        }
      });
    };
    const changed = (): void => {
      clearTimeout(timer);
      timer = setTimeout(rerun, WATCH_SETTLE_MS);
    };
    /** Watches the folder; false when it cannot (it is not there): the check tries again. */
    const open = (): boolean => {
      try {
        const id = folderId(path);
        const opened = watch(path, { recursive: true }, changed);
        opened.on('error', () => lost());
        watcher = opened;
        watched = id;
        return true;
      } catch {
        return false;
      }
    };
    /** The folder went away (or its watcher failed): run once more, which says so, and wait for it. */
    const lost = (): void => {
      watcher?.close();
      watcher = null;
      changed();
    };
    open();
    const check = setInterval(() => {
      const id = folderId(path);
      if (watcher !== null && id !== watched) lost();
      if (watcher === null && id !== null && open()) changed();
    }, WATCH_FOLDER_CHECK_MS);

    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        clearInterval(check);
        watcher?.close();
        void (running ?? Promise.resolve()).then(() => done(last));
      },
      { once: true },
    );
  });
}

/**
 * Whether the repository's build (`npm run build`: each package's `dist`) is current: every
 * package with sources has a finished build (tsc's `dist/.tsbuildinfo`), and the stamp that
 * scripts/build.mjs writes last (dated when that build started) is newer than every source file.
 * The `verity` bin runs the build only then; `npm start` rebuilds only when it is not.
 */
import { readdirSync, statSync } from 'node:fs';

/** The stamp of the last successful build, in the CLI package's dist. */
export const BUILD_STAMP = new URL('../dist/.build-stamp', import.meta.url);

/** Whether `url` names an existing file or folder. */
export function exists(url) {
  try {
    statSync(url);
    return true;
  } catch {
    return false;
  }
}

/** The newest modification time (ms) of a file under `dir`. */
function newestFile(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(`${entry.parentPath}/${entry.name}`).mtimeMs);
  }
  return newest;
}

/** True when the build is current for every package beside this one (packages/*). */
export function isBuildCurrent() {
  let stamp;
  try {
    stamp = statSync(BUILD_STAMP).mtimeMs;
  } catch {
    return false;
  }
  const packages = new URL('../../', import.meta.url);
  for (const name of readdirSync(packages)) {
    const sources = new URL(`${name}/src/`, packages);
    if (!exists(sources)) continue;
    if (!exists(new URL(`${name}/dist/.tsbuildinfo`, packages)) || newestFile(sources) > stamp) return false;
  }
  return true;
}

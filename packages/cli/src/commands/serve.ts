/** `verity serve`: run a Verity server until SIGINT/SIGTERM. */
import { fileURLToPath } from 'node:url';
import type { resolveConfig, startCluster, startServer, StartServerOptions } from '@verity/server';
import type { Command, CommandIo, ParsedArgs } from '../command.js';
import type { ConfigFile } from '../config-file.js';
import { CliError, cliError, EXIT, usageError } from '../errors.js';
import { wantsJson, writeLines, writeResult } from '../output.js';
import { mergeSettings, serverOptions, settingFlags, settingsFromEnv, settingsFromFlags } from '../serve-settings.js';

/** What `serve` needs from '@verity/server'; injectable so tests need no real server. */
export interface ServerModule {
  startServer: typeof startServer;
  startCluster: typeof startCluster;
  resolveConfig: typeof resolveConfig;
}

/**
 * Node flags the worker processes of `--workers` need: this CLI's TypeScript loader when it runs
 * from its sources; none when it runs built (the workers then run the build too).
 */
const WORKER_EXEC_ARGV = import.meta.url.endsWith('.ts') ? ['--import', fileURLToPath(new URL('../../loader/register.mjs', import.meta.url))] : [];

/** resolveConfig, with its TypeError (a bad value) as a usage error (exit 2). */
function checkConfig(server: ServerModule, options: StartServerOptions) {
  try {
    return server.resolveConfig(options);
  } catch (error) {
    throw error instanceof TypeError ? usageError(error.message) : error;
  }
}

/**
 * Checks the file's settings on their own, flags and env vars aside: a bad file never starts a
 * server, even when what is wrong in it is overridden.
 */
function checkConfigFile(server: ServerModule, file: ConfigFile, cwd: string): void {
  try {
    server.resolveConfig(serverOptions(file.settings, cwd).options);
  } catch (error) {
    if (error instanceof TypeError) throw cliError('ERR_CLI_CONFIG_FILE', `${file.file}: ${error.message}`);
    // serverOptions' own refusals (the store given twice, workers) already name the file's keys.
    if (error instanceof CliError) throw cliError('ERR_CLI_CONFIG_FILE', error.message);
    throw error;
  }
}

/** The config file of --config or VERITY_CONFIG, read and checked whole, or null. */
async function configFile(args: ParsedArgs, io: CommandIo): Promise<ConfigFile | null> {
  const file = (args.values['config'] as string | undefined) || io.env['VERITY_CONFIG'];
  if (file === undefined || file === '') return null;
  const { readConfigFile } = await import('../config-file.js'); // ajv and yaml load only when a file is given.
  const config = await readConfigFile(file, io.cwd);
  if (config.exposedSecrets.length > 0) {
    writeLines(io.stderr, `verity: warning: ${file} holds ${config.exposedSecrets.join(', ')} and can be read by other users; make it readable only by its owner (chmod 600)`);
  }
  return config;
}

/** Builds the serve command around a server loader (the real one imports '@verity/server' lazily). */
export function createServeCommand(loadServer: () => Promise<ServerModule>): Command {
  const flags = settingFlags();
  return {
    name: 'serve',
    summary: 'Run the Verity server',
    usage: `[--config FILE] ${Object.entries(flags)
      .map(([name, spec]) => (spec.type === 'boolean' ? `[--${name}]` : `[--${name} ${spec.valueName ?? 'VALUE'}]`))
      .join(' ')}`,
    arguments: [],
    options: {
      config: { type: 'string', valueName: 'FILE', description: 'a YAML or JSON file of these settings, keys as in docs/configuration.md (env VERITY_CONFIG); flags win over env vars, env vars over the file' },
      ...flags,
    },
    details:
      'The first start creates a platform-admin credential: VERITY_ADMIN_TOKEN when set,\notherwise a generated one printed once. A chosen VERITY_ADMIN_TOKEN needs at least\n32 characters and 128 bits (log2 of the character classes used × length); a changed one\nreplaces the previous bootstrap credential. VERITY_MASTER_KEY (32 bytes, base64url) seals\ntoken-signing keys at rest; without it a key file beside --data is used. On SIGINT/SIGTERM it stops within --shutdown-timeout: exit 0 when every audit record was\nwritten, else exit 1 naming how many were spooled (appended at the next start) or lost;\na second signal exits at once (130).\nOne server per --data folder (a lock file beside it); use --database-url for replicas.\nEvery setting has a config-file key (docs/configuration.md); a bad file exits 2 naming the key.\nLogs are JSON lines on stdout (stderr with --json); secrets are never logged.',
    async run(args, io) {
      const file = await configFile(args, io);
      const server = await loadServer();
      if (file !== null) checkConfigFile(server, file, io.cwd);
      const given = mergeSettings(settingsFromFlags(args.values, io.cwd), settingsFromEnv(io.env, io.cwd), file?.settings ?? new Map());
      const { options, workers } = serverOptions(given, io.cwd);
      const config = checkConfig(server, options);
      // Operator notices (the one-time generated token) and the log keep stdout clean for --json.
      const notices = wantsJson(args) ? io.stderr : io.stdout;
      const signal = io.signal === undefined ? {} : { signal: io.signal };
      const running =
        workers === null
          ? await server.startServer({ ...options, print: (line) => writeLines(notices, line), logStream: notices, ...signal })
          : await server.startCluster({ ...options, workers, execArgv: WORKER_EXEC_ARGV, logTo: notices === io.stderr ? 'stderr' : 'stdout', ...signal });
      writeResult(args, io, { url: running.url }, () => writeLines(io.stdout, `Verity listening on ${running.url}`));
      await new Promise<void>((stop) => {
        if (io.signal === undefined || io.signal.aborted) return stop();
        io.signal.addEventListener('abort', () => stop(), { once: true });
      });
      const stopped = await running.close();
      if (stopped.unwritten === 0) {
        writeLines(io.stderr, 'Verity stopped');
        return EXIT.OK;
      }
      const where = stopped.spooled !== null ? `spooled to ${stopped.spooled}` : config.auditSpoolDir === null ? 'LOST (no spool configured)' : `LOST (the spool in ${config.auditSpoolDir} could not be written)`;
      writeLines(io.stderr, `verity: stopped with ${stopped.unwritten} audit records not written to the store; ${where}`);
      return EXIT.CHECK_FAILED;
    },
  };
}

export const serve: Command = createServeCommand(() => import('@verity/server'));

/** Start the PDP: open the store, compose services, bootstrap credentials, listen. */
import type { FastifyInstance } from 'fastify';
import { resolveConfig, type ServerConfig } from './config.js';
import { openDatabase } from './open-database.js';
import { createComponents } from './components.js';
import { scheduleAuditCheckpoints } from './audit-checkpoints.js';
import { buildApp } from './http/app.js';
import { serverBaseUrl } from './tenant-base-url.js';
import { ensureDemoTenant } from './demo.js';
import type { Components } from './components.js';

export interface StartServerOptions extends Partial<ServerConfig> {
  /** Where to say things an operator must see once (the generated admin token). Default: stdout. */
  print?: (line: string) => void;
}

export interface RunningServer {
  url: string;
  app: FastifyInstance;
  components: Components;
  /** The generated bootstrap token, when this start created one. */
  bootstrapToken: string | null;
  close(): Promise<void>;
}

export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const { print = (line: string) => process.stdout.write(`${line}\n`), ...input } = options;
  const config = resolveConfig(input);
  const db = await openDatabase(config);
  let app: FastifyInstance | undefined;
  try {
    const components = await createComponents(config, db, {
      print,
      onAuditError: (error, pending) => print(`verity: audit write failed (${pending} records held, will retry): ${(error as Error).message}`),
    });
    const { generatedToken } = await components.credentials.bootstrap(config.adminToken);
    if (generatedToken) {
      print('verity: created the bootstrap platform-admin credential. It is shown once; keep it safe:');
      print(`  VERITY_ADMIN_TOKEN=${generatedToken}`);
    }
    if (config.demo && (await ensureDemoTenant(components, config.defaultTenant))) print(`verity: loaded the demo tenant "${config.defaultTenant}"`);
    app = await buildApp(components);
    await app.listen({ port: config.port, host: config.host });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const url = serverBaseUrl({ ...config, publicUrl: null }, port);
    components.tokens.setBaseUrl(serverBaseUrl(config, port));
    const running = app;
    const checkpoints = scheduleAuditCheckpoints(components.auditCheckpoints, config.auditCheckpointIntervalMs, (error) =>
      print(`verity: audit checkpoint failed (will retry): ${(error as Error).message}`),
    );
    return {
      url,
      app: running,
      components,
      bootstrapToken: generatedToken,
      async close() {
        await running.close();
        await checkpoints.stop();
        await components.changes.close();
        await components.audit.close();
        await db.close();
      },
    };
  } catch (error) {
    await app?.close();
    await db.close();
    throw error;
  }
}

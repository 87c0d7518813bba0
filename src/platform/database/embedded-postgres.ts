import type { Database } from "./database.js";
import { EmbeddedServer, type EmbeddedServerOptions } from "./embedded-server/server.js";
import { openPostgresDatabase } from "./postgres.js";

export interface EmbeddedPostgresOptions extends EmbeddedServerOptions {
  poolSize: number;
  statementTimeoutMs?: number;
}

/**
 * The embedded default: a real PostgreSQL server that Kaira runs under DATA_DIR/postgres,
 * reached through the same `pg` adapter as an external server. The server is shared by
 * every Kaira process on that DATA_DIR; closing this database detaches from it, and the
 * last process to detach stops it.
 */
export async function openEmbeddedPostgresDatabase(options: EmbeddedPostgresOptions): Promise<Database> {
  const server = new EmbeddedServer(options);
  const attached = await server.attach();
  let database: Database;
  try {
    database = await openPostgresDatabase({
      url: attached.url,
      poolSize: options.poolSize,
      ...(options.statementTimeoutMs ? { statementTimeoutMs: options.statementTimeoutMs } : {}),
    });
  } catch (error) {
    await attached.detach();
    throw error;
  }
  return {
    ...database,
    async close() {
      try {
        await database.close();
      } finally {
        await attached.detach();
      }
    },
  };
}

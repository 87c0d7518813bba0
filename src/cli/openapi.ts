import { writeFile } from "node:fs/promises";
import { buildApp } from "../app.js";
import type { Config } from "../config.js";
import { openEmbeddedDatabase } from "../platform/database/embedded.js";

/**
 * The OpenAPI document comes from the route schemas alone. The app is built on an empty
 * in-memory database with nothing that reaches out or talks: no Redis, no jobs, no admin
 * bootstrap, no logs — so standard output carries the JSON document and nothing else.
 */
export async function printOpenApi(config: Config, outputFile?: string): Promise<void> {
  const quiet: Config = {
    ...config,
    redisUrl: undefined,
    databaseUrl: undefined,
    adminEmail: undefined,
    adminPassword: undefined,
    logLevel: "silent",
    jobs: { ...config.jobs, inProcess: false },
  };
  const database = await openEmbeddedDatabase();
  try {
    const app = await buildApp(quiet, { database });
    await app.ready();
    const document = `${JSON.stringify(app.swagger(), null, 2)}\n`;
    await app.close();
    if (outputFile) await writeFile(outputFile, document);
    else {
      // `kaira openapi | head` closes the pipe early: that is the reader's choice, not a failure.
      process.stdout.on("error", (error: NodeJS.ErrnoException) => {
        if (error.code === "EPIPE") process.exit(0);
        throw error;
      });
      process.stdout.write(document);
    }
  } finally {
    await database.close();
  }
}

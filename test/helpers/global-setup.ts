import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { EmbeddedServer } from "../../src/platform/database/embedded-server/server.js";
import { openPostgresDatabase } from "../../src/platform/database/postgres.js";

declare module "vitest" {
  export interface ProvidedContext {
    /**
     * `embedded`: the run's databases live on an embedded PostgreSQL server started for it
     * (the default); `postgres`: on the external server of DATABASE_URL.
     */
    databaseMode: "embedded" | "postgres";
    /** The admin URL and the migrated template database that each test file clones. */
    postgresAdminUrl: string;
    postgresTemplate: string;
  }
}

export function databaseUrlFor(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * Migrates once per run into a template database, so each test file starts from its own
 * fresh copy (CREATE DATABASE … TEMPLATE) instead of migrating a database every time. The
 * server is DATABASE_URL's when set, else an embedded PostgreSQL server in a temporary
 * DATA_DIR that lives as long as the run.
 */
export default async function setup(project: TestProject) {
  let adminUrl = process.env.DATABASE_URL;
  let server: EmbeddedServer | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), "kaira-test-pg-"));
  if (!adminUrl) {
    server = new EmbeddedServer({ dataDir });
    adminUrl = await server.startPinned();
  }
  const template = `kaira_test_template_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${template}`);
  await admin.query(`create database ${template}`);
  const database = await openPostgresDatabase({ url: databaseUrlFor(adminUrl, template), poolSize: 1 });
  await database.migrate();
  await database.close();
  project.provide("databaseMode", server ? "embedded" : "postgres");
  project.provide("postgresAdminUrl", adminUrl);
  project.provide("postgresTemplate", template);
  return async () => {
    try {
      await admin.query(`drop database if exists ${template} with (force)`);
      await admin.end();
    } finally {
      await server?.stop({ force: true });
      rmSync(dataDir, { recursive: true, force: true });
    }
  };
}

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { dumpEmbedded, openEmbeddedDatabase } from "../../src/platform/database/embedded.js";
import { openPostgresDatabase } from "../../src/platform/database/postgres.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** Embedded mode: a dump of a migrated database each test file loads a copy of. */
    embeddedTemplatePath: string;
    /** PostgreSQL mode: the admin URL and the migrated template database to clone. */
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
 * Migrates once per run into a template, so each test file starts from its own fresh copy
 * in about a second instead of initialising and migrating a database every time.
 */
export default async function setup(project: TestProject) {
  const adminUrl = process.env.DATABASE_URL;
  if (adminUrl) {
    const template = `kaira_test_template_${process.pid}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`drop database if exists ${template}`);
    await admin.query(`create database ${template}`);
    const database = await openPostgresDatabase({ url: databaseUrlFor(adminUrl, template), poolSize: 1 });
    await database.migrate();
    await database.close();
    project.provide("postgresAdminUrl", adminUrl);
    project.provide("postgresTemplate", template);
    project.provide("embeddedTemplatePath", "");
    return async () => {
      await admin.query(`drop database if exists ${template} with (force)`);
      await admin.end();
    };
  }

  const database = await openEmbeddedDatabase();
  await database.migrate();
  const dump = await dumpEmbedded(database);
  await database.close();
  const dir = mkdtempSync(join(tmpdir(), "kaira-test-"));
  const path = join(dir, "template.tar");
  writeFileSync(path, Buffer.from(await dump.arrayBuffer()));
  project.provide("embeddedTemplatePath", path);
  project.provide("postgresAdminUrl", "");
  project.provide("postgresTemplate", "");
  return () => rmSync(dir, { recursive: true, force: true });
}

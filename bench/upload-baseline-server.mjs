#!/usr/bin/env node
// The upload baseline: raw node:http piping each request body straight to a file, no parsing,
// no database. What a Kaira upload costs is measured against this floor.
import { randomUUID } from "node:crypto";
import { createWriteStream, mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";

const dir = process.env.BASELINE_DIR;
if (!dir) throw new Error("BASELINE_DIR is required");
mkdirSync(dir, { recursive: true });

createServer(async (request, response) => {
  if (request.method === "GET") return response.end("ok");
  try {
    await pipeline(request, createWriteStream(join(dir, randomUUID())));
    response.writeHead(201, { "content-type": "application/json" }).end('{"ok":true}');
  } catch {
    response.writeHead(500).end();
  }
}).listen(Number(process.env.PORT), "127.0.0.1");

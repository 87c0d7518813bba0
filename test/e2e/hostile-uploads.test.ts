import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { filesUnder, multipartBody } from "../helpers/files.js";
import { startServer, waitFor } from "../helpers/process.js";
import { newUser } from "../helpers/test-app.js";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

// Uploads that must be refused without taking the process down, against a real `kaira serve`
// over real sockets: a stream error that nobody listens for ends a process, and only a real
// process shows that.
let testDb: TestDatabase | undefined;
let server: Awaited<ReturnType<typeof startServer>>;
let token: string;
const dataDir = mkdtempSync(join(tmpdir(), "kaira-e2e-uploads-"));
const filesDir = join(dataDir, "files");

beforeAll(async () => {
  testDb = await createTestDatabase();
  server = await startServer({
    DATA_DIR: dataDir,
    RATE_LIMIT_PER_MINUTE: "0",
    ...(testDb ? { DATABASE_URL: testDb.url as string } : {}),
  });
  const user = newUser();
  const created = await fetch(`${server.baseUrl}/api/v1/users`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(user),
  });
  expect(created.status).toBe(201);
  const login = await fetch(`${server.baseUrl}/api/v1/auth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ username: user.username, password: user.password }).toString(),
  });
  token = ((await login.json()) as { access_token: string }).access_token;
}, 120_000);

afterAll(async () => {
  if (server && server.child.exitCode === null) {
    server.child.kill("SIGTERM");
    await server.exited;
  }
  await testDb?.drop();
});

async function post(payload: Buffer, headers: Record<string, string>) {
  const started = Date.now();
  const response = await fetch(`${server.baseUrl}/api/v1/files`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, ...headers },
    body: payload,
  });
  const text = await response.text();
  return {
    status: response.status,
    type: response.headers.get("content-type"),
    text,
    ms: Date.now() - started,
  };
}

function upload(filename: string, content: Buffer) {
  const body = multipartBody(filename, content);
  return post(body.payload, body.headers);
}

const expectAlive = async () => {
  const live = await fetch(`${server.baseUrl}/health/live`, { signal: AbortSignal.timeout(2_000) });
  expect(live.status).toBe(200);
  expect(server.child.exitCode).toBeNull();
};

const noFilesLeft = () =>
  waitFor(async () => (await filesUnder(filesDir)).length === 0, 5_000, "no file left in storage");

describe("refused uploads", { timeout: 120_000 }, () => {
  it("refuses random bytes of a type off the allow-list with 415, whatever their size, and stays up", async () => {
    // Sizes either side of the sniffing window and of typical socket chunks: which of the
    // inspector's paths refuses the file depends on how the bytes arrive.
    for (const size of [5_000, 70_000, 700_000, 700_000, 2_000_000]) {
      const res = await upload("random.bin", randomBytes(size));
      expect(res.status, `${size} bytes: ${res.text.slice(0, 200)}`).toBe(415);
      expect(res.type).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(res.text).code).toBe("unsupported_file_type");
      await expectAlive();
    }
    await noFilesLeft();
  });

  it("survives a client that goes away mid-upload and removes the partial file", async () => {
    const body = multipartBody("notes.txt", Buffer.alloc(3_000_000, "a"));
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${server.baseUrl}/api/v1/files`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          ...body.headers,
          "content-length": String(body.payload.length),
        },
      });
      req.on("error", () => resolve());
      req.on("response", () => resolve());
      // Half the body, a moment for the server to start writing it, then the connection drops.
      req.write(body.payload.subarray(0, 1_500_000), () => setTimeout(() => req.destroy(), 200));
      req.on("close", () => resolve());
    });
    await expectAlive();
    await noFilesLeft();
  });

  it("refuses a body with anything beside the one file with 413 and keeps nothing", async () => {
    const boundary = "kaira-two-files";
    const part = (name: string) =>
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\n\r\nhello\r\n`;
    const res = await post(Buffer.from(`${part("a.txt")}${part("b.txt")}--${boundary}--\r\n`), {
      "content-type": `multipart/form-data; boundary=${boundary}`,
    });
    expect(res.status, res.text).toBe(413);
    expect(res.type).toMatch(/^application\/problem\+json/);
    await expectAlive();
    await noFilesLeft();
  });

  it("refuses a file name over 1 KiB with 422 at once, so long names cannot stall the server", async () => {
    const names = [`${". ".repeat(30_000)}x`, `${"a".repeat(1025)}.txt`, `${". ".repeat(20_000)}.txt`];
    for (const name of names) {
      const res = await upload(name, Buffer.from("plain text"));
      expect(res.status, res.text.slice(0, 200)).toBe(422);
      expect(res.type).toMatch(/^application\/problem\+json/);
      expect(res.ms).toBeLessThan(2_000);
    }
    await expectAlive();
    await noFilesLeft();
  });
});

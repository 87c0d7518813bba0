import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
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
    // The server counts sign-ups per address in the machine's shared Redis, across every run
    // of this file within the hour; the sign-up limit has its own test.
    SIGNUP_PER_HOUR: "0",
    REQUEST_TIMEOUT_SECONDS: "2",
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

  it("answers malformed multipart bodies with 400 problem+json, never 500", async () => {
    const cases: [string, Buffer, string][] = [
      ["no boundary", Buffer.from("x"), "multipart/form-data"],
      [
        "a boundary that never appears",
        Buffer.from(
          '--other\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhi\r\n--other--\r\n',
        ),
        "multipart/form-data; boundary=expected",
      ],
      [
        "a boundary over 256 characters",
        Buffer.from("x"),
        `multipart/form-data; boundary=${"b".repeat(300)}`,
      ],
      [
        "a body that ends mid-part",
        Buffer.from('--cut\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhello'),
        "multipart/form-data; boundary=cut",
      ],
    ];
    for (const [label, payload, contentType] of cases) {
      const res = await post(payload, { "content-type": contentType });
      expect(res.status, `${label}: ${res.text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `${label}: ${res.text.slice(0, 300)}`).toBeLessThan(500);
      expect(res.type, label).toMatch(/^application\/problem\+json/);
    }
    await expectAlive();
    await noFilesLeft();
  });

  it("disconnects a client that trickles its body past REQUEST_TIMEOUT_SECONDS and keeps nothing", async () => {
    const url = new URL(server.baseUrl);
    const trickle = (path: string, headers: string) =>
      new Promise<{ ms: number; response: string }>((resolve, reject) => {
        const started = Date.now();
        let response = "";
        const socket = connect(Number(url.port), url.hostname, () => {
          socket.write(
            `POST ${path} HTTP/1.1\r\nHost: ${url.host}\r\n${headers}Content-Length: 1000000\r\n\r\n`,
          );
        });
        // One byte every 200 ms: never idle, never done.
        const drip = setInterval(() => socket.write("a"), 200);
        const giveUp = setTimeout(() => {
          socket.destroy();
          reject(new Error(`still open after 10 s: ${response.slice(0, 200)}`));
        }, 10_000);
        socket.on("data", (chunk) => {
          response += chunk.toString();
        });
        socket.on("error", () => {});
        socket.on("close", () => {
          clearInterval(drip);
          clearTimeout(giveUp);
          resolve({ ms: Date.now() - started, response });
        });
      });
    const boundary = "kaira-trickle";
    const [upload, signUp] = await Promise.all([
      trickle(
        "/api/v1/files",
        `Authorization: Bearer ${token}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n`,
      ),
      trickle("/api/v1/users", "Content-Type: application/json\r\n"),
    ]);
    for (const result of [upload, signUp]) {
      // REQUEST_TIMEOUT_SECONDS is 2 here.
      expect(result.ms).toBeLessThan(6_000);
      expect(result.response.split("\r\n")[0] ?? "").toMatch(/^(HTTP\/1\.1 408|$)/);
    }
    await expectAlive();
    await noFilesLeft();
  });

  it("answers what the HTTP parser refuses (oversized headers, malformed HTTP) with problem+json", async () => {
    const url = new URL(server.baseUrl);
    const raw = (request: string) =>
      new Promise<string>((resolve) => {
        let response = "";
        const socket = connect(Number(url.port), url.hostname, () => socket.write(request));
        socket.on("data", (chunk) => {
          response += chunk.toString();
        });
        socket.on("error", () => {});
        socket.on("close", () => resolve(response));
      });
    const cases: [string, string, RegExp][] = [
      [
        "oversized headers",
        `GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
        /^HTTP\/1\.1 431 /,
      ],
      ["malformed HTTP", "GET /health/live HTTP/1.1\r\nHost x\r\n\r\n", /^HTTP\/1\.1 400 /],
    ];
    for (const [label, request, statusLine] of cases) {
      const response = await raw(request);
      expect(response, label).toMatch(statusLine);
      expect(response, label).toMatch(/content-type: application\/problem\+json/i);
      const body = JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4));
      expect(body).toMatchObject({ status: expect.any(Number), code: expect.any(String) });
    }
    await expectAlive();
  });

  it("stores a file part sent without a filename under a default name", async () => {
    const boundary = "kaira-no-filename";
    const res = await post(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"\r\nContent-Type: application/octet-stream\r\n\r\nhello\r\n--${boundary}--\r\n`,
      ),
      { "content-type": `multipart/form-data; boundary=${boundary}` },
    );
    expect(res.status, res.text).toBe(201); // last: it leaves a stored file behind
    expect(res.type).toMatch(/^application\/(problem\+)?json/);
    await expectAlive();
  });
});

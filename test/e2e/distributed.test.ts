import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { pngOf } from "../helpers/files.js";
import { freePort, type KairaProcess, runKaira, startServer, waitFor } from "../helpers/process.js";
import { startSmtpServer, type TestSmtpServer } from "../helpers/smtp.js";
import { createTestDatabase, onPostgres, type TestDatabase } from "../helpers/test-database.js";

// The distributed deployment as a user runs it: two `kaira serve` processes and a
// `kaira worker` on PostgreSQL and a Redis of this test's own (started on a free port and
// the only one ever stopped here), with a mail server the test controls.
const distributed = onPostgres() && Boolean(process.env.REDIS_URL);

type Server = Awaited<ReturnType<typeof startServer>>;

describe.skipIf(!distributed)(
  "distributed mode: two API instances, a worker, PostgreSQL and Redis",
  { timeout: 120_000 },
  () => {
    let testDb: TestDatabase;
    let redis: ChildProcess | undefined;
    let redisPort: number;
    let smtp: TestSmtpServer;
    let env: Record<string, string>;
    let a: Server;
    let b: Server;
    let worker: KairaProcess;

    const startRedis = async () => {
      redis = spawn(
        "redis-server",
        ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        {
          stdio: "ignore",
        },
      );
      await waitFor(
        async () =>
          new Promise<boolean>((resolve) => {
            const probe = spawn("redis-cli", ["-p", String(redisPort), "ping"], {
              stdio: ["ignore", "pipe", "ignore"],
            });
            let out = "";
            probe.stdout.on("data", (chunk) => {
              out += chunk;
            });
            probe.on("exit", () => resolve(out.trim() === "PONG"));
          }),
        10_000,
        "the test's redis-server",
      );
    };
    const stopRedis = async () => {
      const current = redis;
      redis = undefined;
      if (!current || current.exitCode !== null) return;
      const exited = new Promise((resolve) => current.on("exit", resolve));
      current.kill("SIGKILL");
      await exited;
    };

    const api = (server: Server) => ({
      post: async (path: string, body: unknown, token?: string) =>
        fetch(`${server.baseUrl}${path}`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: JSON.stringify(body),
        }),
      patch: async (path: string, body: unknown, token: string) =>
        fetch(`${server.baseUrl}${path}`, {
          method: "PATCH",
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          body: JSON.stringify(body),
        }),
      get: async (path: string, token?: string) =>
        fetch(`${server.baseUrl}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    });

    const signUp = async (server: Server) => {
      const user = {
        email: `e2e_${randomBytes(4).toString("hex")}@example.com`,
        username: `e2e_${randomBytes(4).toString("hex")}`,
        password: "SecurePass123",
      };
      const created = await api(server).post("/api/v1/users", user);
      expect(created.status).toBe(201);
      const token = await fetch(`${server.baseUrl}/api/v1/auth/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ username: user.email, password: user.password }).toString(),
      });
      const { access_token } = (await token.json()) as { access_token: string };
      return { ...user, id: ((await created.json()) as { id: number }).id, token: access_token };
    };

    const liveClient = async (server: Server, token: string, since?: number) => {
      const socket = new WebSocket(`${server.baseUrl.replace("http", "ws")}/api/v1/ws`);
      const messages: { id?: number; type: string; data: Record<string, unknown>; at: number }[] = [];
      socket.on("message", (data) =>
        messages.push({ ...JSON.parse(data.toString()), at: performance.now() }),
      );
      await new Promise((resolve, reject) => {
        socket.once("open", resolve);
        socket.once("error", reject);
      });
      socket.send(
        JSON.stringify({ type: "auth", access_token: token, ...(since !== undefined ? { since } : {}) }),
      );
      await waitFor(async () => messages.some((m) => m.type === "ready"), 5_000, "ready");
      return { socket, messages };
    };

    const startWorker = () =>
      runKaira(["worker"], { ...env, JOB_LEASE_SECONDS: "2", WORKER_SHUTDOWN_SECONDS: "5" });

    beforeAll(async () => {
      testDb = await createTestDatabase();
      redisPort = await freePort();
      await startRedis();
      const smtpPort = await freePort();
      smtp = await startSmtpServer(smtpPort);
      env = {
        // API instances and workers share the files directory, as on shared storage.
        DATA_DIR: mkdtempSync(join(tmpdir(), "kaira-distributed-")),
        DATABASE_URL: testDb.url as string,
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        SECRET_KEY: randomBytes(32).toString("hex"),
        SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
        LOG_LEVEL: "info",
      };
      [a, b] = await Promise.all([startServer(env), startServer(env)]);
      worker = startWorker();
    });

    afterAll(async () => {
      for (const proc of [a, b, worker]) proc?.child.kill("SIGKILL");
      await stopRedis();
      await smtp.close();
      await testDb.drop();
    });

    it("delivers a post created through B to a live client on A", async () => {
      const reader = await signUp(a);
      const writer = await signUp(b);
      const client = await liveClient(a, reader.token);
      const sent = performance.now();
      const created = await api(b).post(
        "/api/v1/posts",
        { title: "Across processes", content: "hello" },
        writer.token,
      );
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: number };
      const event = await waitFor(
        async () => client.messages.find((m) => m.type === "post.created" && m.data.id === id),
        5_000,
        "post.created on A",
      );
      console.log(
        `post.created through B reached a client on A ${Math.round(event.at - sent)} ms after the request`,
      );
      client.socket.close();
    });

    it("shows on A an update made through B, though A had the post cached", async () => {
      const writer = await signUp(b);
      const created = await api(b).post("/api/v1/posts", { title: "Before", content: "x" }, writer.token);
      const { id } = (await created.json()) as { id: number };
      for (let i = 0; i < 3; i++)
        expect(((await (await api(a).get(`/api/v1/posts/${id}`)).json()) as { title: string }).title).toBe(
          "Before",
        );
      expect((await api(b).patch(`/api/v1/posts/${id}`, { title: "After" }, writer.token)).status).toBe(200);
      expect(((await (await api(a).get(`/api/v1/posts/${id}`)).json()) as { title: string }).title).toBe(
        "After",
      );
    });

    it("sends the welcome message from the worker, even when the worker is killed mid-job", async () => {
      const first = await signUp(a);
      await waitFor(
        async () => smtp.received.find((m) => m.to.includes(first.email)),
        15_000,
        "the first welcome message",
      );

      // The mail server now reads messages without answering: the job hangs mid-delivery.
      smtp.hold = true;
      const second = await signUp(b);
      await waitFor(async () => smtp.held > 0, 15_000, "the worker to be mid-delivery");
      worker.child.kill("SIGKILL");
      await worker.exited;
      smtp.hold = false;
      worker = startWorker();
      const delivered = await waitFor(
        async () => smtp.received.find((m) => m.to.includes(second.email)),
        30_000,
        "the welcome message after the worker restarted",
      );
      expect(delivered.body).toContain("Subject: Welcome to Kaira");
      // The new worker found the dead one's job stalled and says so.
      expect(worker.output()).toContain('"event":"job.stalled"');
    });

    it("stops a worker on SIGTERM within its grace period, exiting 0", async () => {
      const stopping = worker;
      stopping.child.kill("SIGTERM");
      const code = await Promise.race([
        stopping.exited,
        new Promise((resolve) => setTimeout(() => resolve("timeout"), 10_000)),
      ]);
      expect(code).toBe(0);
      expect(stopping.output()).toContain("worker stopped");
      worker = startWorker();
    });

    it("makes an uploaded image's thumbnail in the worker and tells its owner", async () => {
      const owner = await signUp(a);
      const client = await liveClient(b, owner.token);
      const form = new FormData();
      form.append(
        "file",
        new Blob([new Uint8Array(await pngOf(800, 600))], { type: "image/png" }),
        "photo.png",
      );
      const uploaded = await fetch(`${a.baseUrl}/api/v1/files`, {
        method: "POST",
        headers: { authorization: `Bearer ${owner.token}` },
        body: form,
      });
      expect(uploaded.status).toBe(201);
      const { id } = (await uploaded.json()) as { id: number };
      await waitFor(
        async () => client.messages.find((m) => m.type === "file.processed" && m.data.id === id),
        30_000,
        "file.processed from the worker",
      );
      const thumbnail = await api(b).get(`/api/v1/files/${id}/thumbnail`, owner.token);
      expect(thumbnail.status).toBe(200);
      expect(thumbnail.headers.get("content-type")).toBe("image/webp");
      const meta = await sharp(Buffer.from(await thumbnail.arrayBuffer())).metadata();
      expect(meta.format).toBe("webp");
      expect(Math.max(meta.width ?? 0, meta.height ?? 0)).toBeLessThanOrEqual(320);
      client.socket.close();
    });

    it("replays exactly the missed events to a client that reconnects with since", async () => {
      const reader = await signUp(a);
      const writer = await signUp(b);
      const client = await liveClient(a, reader.token);
      const first = await api(b).post("/api/v1/posts", { title: "Seen live", content: "1" }, writer.token);
      const firstId = ((await first.json()) as { id: number }).id;
      const seen = await waitFor(
        async () => client.messages.find((m) => m.type === "post.created" && m.data.id === firstId),
        5_000,
        "the live event",
      );
      client.socket.close();

      const missed: number[] = [];
      for (const title of ["Missed 1", "Missed 2", "Missed 3"]) {
        const res = await api(b).post("/api/v1/posts", { title, content: "while away" }, writer.token);
        missed.push(((await res.json()) as { id: number }).id);
      }
      await new Promise((resolve) => setTimeout(resolve, 300)); // let the relay publish them
      const back = await liveClient(b, reader.token, seen.id);
      await waitFor(
        async () => back.messages.filter((m) => m.type === "post.created").length >= 3,
        5_000,
        "the catch-up",
      );
      await new Promise((resolve) => setTimeout(resolve, 300)); // nothing more may arrive
      const caughtUp = back.messages.filter((m) => m.type === "post.created").map((m) => m.data.id);
      expect(caughtUp).toEqual(missed);
      back.socket.close();
    });

    it("keeps serving reads with Redis stopped, and readiness reports it until Redis is back", async () => {
      const writer = await signUp(a);
      const created = await api(a).post(
        "/api/v1/posts",
        { title: "Survives Redis", content: "x" },
        writer.token,
      );
      const { id } = (await created.json()) as { id: number };
      await api(b).get(`/api/v1/posts/${id}`); // cached in Redis

      await stopRedis();
      for (const server of [a, b]) {
        await waitFor(
          async () => (await api(server).get("/health/ready")).status === 503,
          10_000,
          "readiness to flip",
        );
        const ready = (await (await api(server).get("/health/ready")).json()) as {
          checks: Record<string, { status: string }>;
        };
        expect(ready.checks.redis?.status).toBe("fail");
        expect(ready.checks.database?.status).toBe("pass");
        const post = await api(server).get(`/api/v1/posts/${id}`);
        expect(post.status).toBe(200);
        expect((await api(server).get("/api/v1/posts")).status).toBe(200);
        expect((await api(server).get(`/api/v1/users/${writer.id}`)).status).toBe(200);
        expect((await api(server).get("/health/live")).status).toBe(200);
      }
      // A write while Redis is down commits, and its welcome job waits in the job outbox.
      const late = await signUp(b);

      await startRedis();
      for (const server of [a, b]) {
        await waitFor(
          async () => (await api(server).get("/health/ready")).status === 200,
          20_000,
          "readiness to recover",
        );
      }
      await waitFor(
        async () => smtp.received.find((m) => m.to.includes(late.email)),
        30_000,
        "the welcome job relayed after the outage",
      );
    });
  },
);

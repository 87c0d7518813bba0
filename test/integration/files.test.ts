import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { bearer, login, type Session, signUpAndLogin } from "../helpers/auth.js";
import { filesUnder, opaqueBytes, pngClaiming, pngOf, upload } from "../helpers/files.js";
import { waitFor } from "../helpers/process.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

const MAX_UPLOAD = 256 * 1024;
const QUOTA = 1024 * 1024;

let t: TestApp;
let storageDir: string;
let owner: Session;
let other: Session;
let admin: string;

beforeAll(async () => {
  t = await createTestApp({
    ADMIN_EMAIL: "files-admin@example.com",
    ADMIN_PASSWORD: "AdminPass-123456",
    MAX_UPLOAD_BYTES: String(MAX_UPLOAD),
    UPLOAD_QUOTA_BYTES: String(QUOTA),
    // The defaults, plus types that let the tests show how risky content is served.
    UPLOAD_ALLOWED_TYPES:
      "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain,application/octet-stream,text/html,image/svg+xml",
    // Thumbnails are made in this process on both databases (with Redis, through BullMQ).
    JOBS_IN_PROCESS: "true",
  });
  storageDir = join(t.config.dataDir, "files");
  [owner, other] = await Promise.all([signUpAndLogin(t.app), signUpAndLogin(t.app)]);
  admin = (await login(t.app, "files-admin@example.com", "AdminPass-123456")).json().access_token;
});
afterAll(async () => {
  await t?.close();
});

const download = (id: number, headers: Record<string, string> = {}) =>
  t.app.inject({ url: `/api/v1/files/${id}`, headers });

async function uploaded(session: Session, name: string, content: Buffer) {
  const res = await upload(t.app, session.access, name, content);
  if (res.statusCode !== 201) throw new Error(`upload failed: ${res.statusCode} ${res.body}`);
  return res.json() as { id: number; filename: string; content_type: string; size: number; sha256: string };
}

/** Waits until earlier tests' jobs (thumbnails, object removal) have run: they write to storage. */
async function backgroundJobsDone() {
  await waitFor(
    async () => {
      const counts = await t.jobs.counts();
      // Not `delayed`: the hourly cleanup always has its next run scheduled.
      return counts.waiting + counts.active === 0;
    },
    10_000,
    "background jobs to finish",
  );
}

describe("POST /api/v1/files", () => {
  it("stores binary bytes exactly and returns them byte for byte", async () => {
    const content = opaqueBytes(200_000);
    const res = await upload(t.app, owner.access, "random.bin", content);
    expect(res.statusCode).toBe(201);
    const file = res.json();
    expect(file).toEqual({
      id: expect.any(Number),
      filename: "random.bin",
      content_type: "application/octet-stream",
      size: content.length,
      sha256: createHash("sha256").update(content).digest("hex"),
      created_at: expect.any(String),
    });
    const got = await download(file.id, bearer(owner.access));
    expect(got.statusCode).toBe(200);
    expect(got.rawPayload.equals(content)).toBe(true);
    expect(got.headers).toMatchObject({
      "content-type": "application/octet-stream",
      "content-length": String(content.length),
      "content-disposition": `attachment; filename="random.bin"; filename*=UTF-8''random.bin`,
      etag: `"${file.sha256}"`,
      "accept-ranges": "bytes",
      "x-content-type-options": "nosniff",
    });
    expect(got.headers["content-security-policy"]).toMatch(/^sandbox/);
  });

  it("refuses a file over MAX_UPLOAD_BYTES with 413 and leaves no bytes behind", async () => {
    await backgroundJobsDone();
    const before = await filesUnder(storageDir);
    const res = await upload(t.app, owner.access, "big.bin", opaqueBytes(MAX_UPLOAD + 1));
    expect(res.statusCode).toBe(413);
    expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(res.json().code).toBe("file_too_large");
    expect(await filesUnder(storageDir)).toEqual(before);
    // Exactly the limit is fine.
    expect((await upload(t.app, other.access, "edge.bin", opaqueBytes(MAX_UPLOAD))).statusCode).toBe(201);
  });

  it("takes the type from the bytes: HTML named .png is refused, never served as an image", async () => {
    const html = Buffer.from("<!doctype html><html><script>alert(document.cookie)</script></html>");
    const disguised = await upload(t.app, owner.access, "cat.png", html);
    expect(disguised.statusCode).toBe(415);
    expect(disguised.json().code).toBe("extension_mismatch");
    const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), randomBytes(200)]);
    const executable = await upload(t.app, owner.access, "tool.png", elf);
    expect(executable.statusCode).toBe(415);
    expect(executable.json().code).toBe("unsupported_file_type");
    const renamed = await upload(t.app, owner.access, "setup.exe", await pngOf(4, 4));
    expect(renamed.statusCode).toBe(415);

    // Where an operator allows markup, it is still only ever a download, sandboxed.
    for (const [name, content, type] of [
      ["page.html", html, "text/html"],
      [
        "logo.svg",
        Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
        "image/svg+xml",
      ],
    ] as const) {
      const file = await uploaded(owner, name, content);
      expect(file.content_type).toBe(type);
      const got = await download(file.id, bearer(owner.access));
      expect(got.headers["content-type"]).toBe(type);
      expect(got.headers["content-disposition"]).toMatch(/^attachment;/);
      expect(got.headers["content-security-policy"]).toMatch(/^sandbox/);
      expect(got.headers["x-content-type-options"]).toBe("nosniff");
    }
    const png = await uploaded(owner, "real", await pngOf(8, 8));
    expect(png).toMatchObject({ filename: "real.png", content_type: "image/png" });
    expect((await download(png.id, bearer(owner.access))).headers["content-disposition"]).toMatch(/^inline;/);
    const text = await uploaded(owner, "notes.md", Buffer.from("# Notes\nplain text, ünïcode\n"));
    expect((await download(text.id, bearer(owner.access))).headers["content-type"]).toBe(
      "text/plain; charset=utf-8",
    );
  });

  it("reduces hostile names to plain ones and writes nothing outside its directory", async () => {
    const outside = join(t.config.dataDir, "etc", "passwd");
    const text = Buffer.from("just text\n");
    const cases: [string, string][] = [
      ["../../etc/passwd", "passwd.txt"],
      ["..\\..\\x", "x.txt"],
      ["/tmp/pwn.txt", "pwn.txt"],
      ["a\u0001b\u001fc.txt", "abc.txt"],
      ["..%2f..%2fx.txt", "%2f..%2fx.txt"],
      [`${"n".repeat(300)}.txt`, `${"n".repeat(146)}.txt`],
    ];
    for (const [raw, expected] of cases) {
      const file = await uploaded(owner, raw, text);
      expect(file.filename, raw).toBe(expected);
    }
    expect(existsSync(outside)).toBe(false);
    // Every stored object is a generated name inside two-character shard directories.
    await backgroundJobsDone(); // a thumbnail being written has a temporary file meanwhile
    for (const path of await filesUnder(storageDir)) {
      expect(path).toMatch(/^[0-9a-f]{2}\/[0-9a-f]{32}(-thumb)?$/);
    }
  });

  it("needs a token with files:write and a multipart body with the field `file`", async () => {
    const anonymous = await t.app.inject({ method: "POST", url: "/api/v1/files", payload: {} });
    expect(anonymous.statusCode).toBe(401);
    const narrow = (await login(t.app, owner.email, owner.password, "posts:write")).json().access_token;
    expect((await upload(t.app, narrow, "a.txt", Buffer.from("x"))).statusCode).toBe(403);
    const json = await t.app.inject({
      method: "POST",
      url: "/api/v1/files",
      headers: bearer(owner.access),
      payload: { file: "x" },
    });
    expect(json.statusCode).toBe(415);
    const wrongField = await upload(t.app, owner.access, "a.txt", Buffer.from("x"), "document");
    expect(wrongField.statusCode).toBe(422);
    expect(wrongField.json().errors[0].loc).toEqual(["body", "file"]);
    const empty = await upload(t.app, owner.access, "a.txt", Buffer.alloc(0));
    expect(empty.statusCode).toBe(400);
    expect(empty.json().code).toBe("empty_file");
  });

  it("enforces the per-user quota", async () => {
    const hoarder = await signUpAndLogin(t.app);
    // Originals only: thumbnails of earlier tests' images (and their temporary files while
    // being written) may appear meanwhile.
    const originals = async () =>
      (await filesUnder(storageDir)).filter((path) => !path.endsWith("-thumb") && !path.startsWith(".tmp"));
    await backgroundJobsDone();
    const before = await originals();
    const chunk = MAX_UPLOAD - 1024;
    let stored = 0;
    for (let i = 0; stored + chunk <= QUOTA; i++) {
      expect((await upload(t.app, hoarder.access, `part${i}.bin`, opaqueBytes(chunk))).statusCode).toBe(201);
      stored += chunk;
    }
    const over = await upload(t.app, hoarder.access, "one-more.bin", opaqueBytes(chunk));
    expect(over.statusCode).toBe(413);
    expect(over.json().code).toBe("quota_exceeded");
    expect((await originals()).length - before.length).toBe(stored / chunk);
    // Others are not affected.
    expect((await upload(t.app, other.access, "fine.bin", opaqueBytes(chunk))).statusCode).toBe(201);
  });
});

describe("GET /api/v1/files/{id}", () => {
  let file: { id: number; sha256: string };
  const content = opaqueBytes(1000);
  beforeAll(async () => {
    file = await uploaded(owner, "ranges.bin", content);
  });
  const get = (range: string, extra: Record<string, string> = {}) =>
    download(file.id, { ...bearer(owner.access), range, ...extra });

  it("serves single byte ranges with 206", async () => {
    const first = await get("bytes=0-9");
    expect(first.statusCode).toBe(206);
    expect(first.headers["content-range"]).toBe("bytes 0-9/1000");
    expect(first.headers["content-length"]).toBe("10");
    expect(first.rawPayload.equals(content.subarray(0, 10))).toBe(true);
    const suffix = await get("bytes=-100");
    expect(suffix.statusCode).toBe(206);
    expect(suffix.headers["content-range"]).toBe("bytes 900-999/1000");
    expect(suffix.rawPayload.equals(content.subarray(900))).toBe(true);
    const open = await get("bytes=990-");
    expect(open.rawPayload.equals(content.subarray(990))).toBe(true);
  });

  it("answers 416 to ranges outside the file, and the whole file to several ranges", async () => {
    for (const range of ["bytes=1000-", "bytes=5-2", "bytes=-0", "bytes=x-y"]) {
      const res = await get(range);
      expect(res.statusCode, range).toBe(416);
      expect(res.headers["content-range"]).toBe("bytes */1000");
    }
    const multi = await get("bytes=0-1,5-6");
    expect(multi.statusCode).toBe(200);
    expect(multi.rawPayload.equals(content)).toBe(true);
    // A range against an older version (If-Range) gets the whole current file.
    const stale = await get("bytes=0-9", { "if-range": '"old"' });
    expect(stale.statusCode).toBe(200);
  });

  it("revalidates with the ETag", async () => {
    const res = await download(file.id, { ...bearer(owner.access), "if-none-match": `"${file.sha256}"` });
    expect(res.statusCode).toBe(304);
    expect(res.rawPayload.length).toBe(0);
    expect(res.headers.etag).toBe(`"${file.sha256}"`);
  });

  it("shows a private file only to its owner and admins; a post makes it public", async () => {
    const file = await uploaded(owner, "private.txt", Buffer.from("secret plans\n"));
    expect((await download(file.id)).statusCode).toBe(404);
    expect((await download(file.id, bearer(other.access))).statusCode).toBe(404);
    expect((await download(file.id, bearer(owner.access))).statusCode).toBe(200);
    expect((await download(file.id, bearer(admin))).statusCode).toBe(200);
    expect((await download(999_999)).json().code).toBe("file_not_found");

    const post = await t.app.inject({
      method: "POST",
      url: "/api/v1/posts",
      headers: bearer(owner.access),
      payload: { title: "Plans", content: "attached", attachment_ids: [file.id] },
    });
    expect(post.statusCode).toBe(201);
    const anonymous = await download(file.id);
    expect(anonymous.statusCode).toBe(200);
    expect(anonymous.body).toBe("secret plans\n");

    // Deleting the post keeps the file with its owner, private again.
    const deleted = await t.app.inject({
      method: "DELETE",
      url: `/api/v1/posts/${post.json().id}`,
      headers: bearer(owner.access),
    });
    expect(deleted.statusCode).toBe(204);
    expect((await download(file.id)).statusCode).toBe(404);
    expect((await download(file.id, bearer(owner.access))).statusCode).toBe(200);
  });

  it("rejects ids that are not ids", async () => {
    for (const path of ["..%2f..%2fpackage.json", "%2e%2e%2f", "1.5", "-1"]) {
      const res = await t.app.inject({ url: `/api/v1/files/${path}` });
      expect([404, 422], path).toContain(res.statusCode);
    }
  });
});

describe("DELETE /api/v1/files/{id}", () => {
  it("lets the owner or an admin delete; the bytes go and posts stop showing the file", async () => {
    const file = await uploaded(owner, "doomed.txt", Buffer.from("bye\n"));
    const keep = await uploaded(owner, "kept.txt", Buffer.from("stay\n"));
    await backgroundJobsDone();
    const before = await filesUnder(storageDir);
    const del = (id: number, token: string) =>
      t.app.inject({ method: "DELETE", url: `/api/v1/files/${id}`, headers: bearer(token) });

    expect((await del(file.id, other.access)).statusCode).toBe(404); // private: not even its existence
    const post = await t.app.inject({
      method: "POST",
      url: "/api/v1/posts",
      headers: bearer(owner.access),
      payload: { title: "Two files", content: "x", attachment_ids: [file.id, keep.id] },
    });
    expect((await del(file.id, other.access)).statusCode).toBe(403); // public now, but not theirs
    expect((await del(file.id, owner.access)).statusCode).toBe(204);
    expect((await download(file.id, bearer(owner.access))).statusCode).toBe(404);
    const shown = await t.app.inject({ url: `/api/v1/posts/${post.json().id}` });
    expect(shown.json().attachments.map((a: { id: number }) => a.id)).toEqual([keep.id]);
    await waitFor(
      async () => (await filesUnder(storageDir)).length === before.length - 1,
      10_000,
      "bytes removed",
    );

    const byAdmin = await uploaded(other, "admin-cleans.txt", Buffer.from("x\n"));
    expect((await del(byAdmin.id, admin)).statusCode).toBe(204);
    expect((await del(byAdmin.id, admin)).statusCode).toBe(404);
  });
});

describe("thumbnails", () => {
  interface Feed {
    messages: { type: string; data: Record<string, unknown> }[];
    socket: WebSocket;
  }
  async function liveFeed(session: Session): Promise<Feed> {
    const url = `${(await t.app.listen({ port: 0, host: "127.0.0.1" })).replace("http", "ws")}/api/v1/ws`;
    const socket = new WebSocket(url);
    const messages: Feed["messages"] = [];
    socket.on("message", (data) => messages.push(JSON.parse(data.toString())));
    await new Promise((resolve, reject) => {
      socket.on("open", resolve);
      socket.on("error", reject);
    });
    socket.send(JSON.stringify({ type: "auth", access_token: session.access }));
    await waitFor(async () => messages.some((m) => m.type === "ready"), 5_000, "ready");
    return { messages, socket };
  }

  it("makes a bounded WebP preview of an image and tells the owner live", async () => {
    const feed = await liveFeed(owner);
    const file = await uploaded(owner, "landscape.png", await pngOf(1200, 900));
    const thumbnail = await waitFor(
      async () => {
        const res = await t.app.inject({
          url: `/api/v1/files/${file.id}/thumbnail`,
          headers: bearer(owner.access),
        });
        return res.statusCode === 200 && res;
      },
      20_000,
      "the thumbnail",
    );
    expect(thumbnail.headers["content-type"]).toBe("image/webp");
    expect(thumbnail.headers["x-content-type-options"]).toBe("nosniff");
    const meta = await sharp(thumbnail.rawPayload).metadata();
    expect(meta).toMatchObject({ format: "webp", width: 320, height: 240 });
    // Same access rules as the file itself.
    expect((await t.app.inject({ url: `/api/v1/files/${file.id}/thumbnail` })).statusCode).toBe(404);

    const event = await waitFor(
      async () => feed.messages.find((m) => m.type === "file.processed" && m.data.id === file.id),
      10_000,
      "file.processed",
    );
    expect(event.data).toMatchObject({ thumbnail_url: `/api/v1/files/${file.id}/thumbnail` });
    feed.socket.close();
  });

  it("fails the job for good on a corrupt or oversized image, leaving no thumbnail", async () => {
    const corrupt = pngClaiming(64, randomBytes(300));
    const broken = await uploaded(owner, "broken.png", corrupt);
    const bomb = await uploaded(owner, "bomb.png", pngClaiming(30_000));
    expect(bomb.size).toBeLessThan(100);
    for (const file of [broken, bomb]) {
      const failed = await waitFor(
        async () =>
          (await t.jobs.list("failed", 100)).find(
            (job) => (job.data as { file_id?: number }).file_id === file.id,
          ),
        20_000,
        `the failed job of file ${file.id}`,
      );
      // Decoding will not succeed later: no retries.
      expect(failed.attemptsMade).toBe(1);
      const thumb = await t.app.inject({
        url: `/api/v1/files/${file.id}/thumbnail`,
        headers: bearer(owner.access),
      });
      expect(thumb.statusCode).toBe(404);
      expect(thumb.json().code).toBe("thumbnail_not_found");
    }
    // The original is still there, as uploaded.
    expect((await download(broken.id, bearer(owner.access))).rawPayload.equals(corrupt)).toBe(true);
  });
});

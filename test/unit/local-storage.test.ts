import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLocalStorage } from "../../src/platform/storage/local-storage.js";
import { ObjectNotFoundError, type ObjectStorage } from "../../src/platform/storage/storage.js";

let root: string;
let storage: ObjectStorage;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "kaira-storage-"));
  storage = createLocalStorage(root);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Every file below the root, temporary ones included. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

describe("local object storage", () => {
  it("stores a stream and reads back the same bytes, whole or by range", async () => {
    const data = randomBytes(200_000);
    const stored = await storage.put("abc123", Readable.from([data.subarray(0, 1000), data.subarray(1000)]));
    expect(stored.size).toBe(data.length);
    expect(await storage.stat("abc123")).toEqual({ size: data.length });
    expect((await bytesOf(await storage.get("abc123"))).equals(data)).toBe(true);
    const part = await bytesOf(await storage.get("abc123", { start: 10, end: 19 }));
    expect(part.equals(data.subarray(10, 20))).toBe(true);
  });

  it("leaves nothing behind when the stream fails half-way", async () => {
    const failing = new Readable({
      read() {
        this.push(randomBytes(1024));
        this.destroy(new Error("client went away"));
      },
    });
    await expect(storage.put("broken", failing)).rejects.toThrow("client went away");
    expect(await storage.stat("broken")).toBeUndefined();
    expect(await filesUnder(root)).toEqual([]);
  });

  it("keeps the previous object when a replacement fails", async () => {
    await storage.put("kept", Readable.from([Buffer.from("original")]));
    const failing = new Readable({
      read() {
        this.destroy(new Error("aborted"));
      },
    });
    await expect(storage.put("kept", failing)).rejects.toThrow("aborted");
    expect(await text(await storage.get("kept"))).toBe("original");
  });

  it("reports absent objects and deletes idempotently", async () => {
    await expect(storage.get("missing")).rejects.toBeInstanceOf(ObjectNotFoundError);
    await storage.put("gone", Readable.from([Buffer.from("x")]));
    await storage.delete("gone");
    await storage.delete("gone");
    await expect(storage.get("gone")).rejects.toBeInstanceOf(ObjectNotFoundError);
  });

  it("refuses keys that could name a path", async () => {
    for (const key of ["../x", "a/b", "", ".hidden", "UPPER", "a".repeat(200), "x\u0000y"]) {
      await expect(storage.put(key, Readable.from([Buffer.from("x")]))).rejects.toThrow(
        "invalid storage key",
      );
      await expect(storage.get(key)).rejects.toThrow("invalid storage key");
    }
    expect(await filesUnder(root)).toEqual([]);
  });
});

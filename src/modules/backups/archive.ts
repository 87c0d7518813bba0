import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { PassThrough, Readable, Transform, Writable } from "node:stream";
import { finished, pipeline } from "node:stream/promises";
import { createGunzip, createGzip } from "node:zlib";
import tar from "tar-stream";

/**
 * A backup archive is a gzip-compressed tar. Every member's size and SHA-256 are recorded
 * in `manifest.json`, the last member, so a damaged or altered archive is caught before
 * anything is restored from it.
 */
export const MANIFEST_MEMBER = "manifest.json";
/** A manifest is small (tables, sequences, one line per file); anything larger is not ours. */
const MAX_MANIFEST_BYTES = 256 * 1024 * 1024;

export interface MemberDigest {
  size: number;
  sha256: string;
}

/** The archive is unreadable, incomplete or altered; restoring from it would be unsafe. */
export class CorruptArchiveError extends Error {
  constructor(detail: string) {
    super(`The backup archive is damaged or incomplete: ${detail}`);
    this.name = "CorruptArchiveError";
  }
}

/** Passes bytes through and reports their SHA-256 and count once they have all gone by. */
export function digestingStream(): { stream: Transform; digest: () => MemberDigest } {
  const hash = createHash("sha256");
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  let result: MemberDigest | undefined;
  return {
    stream,
    digest: () => {
      result ??= { size, sha256: hash.digest("hex") };
      return result;
    },
  };
}

/** Writes members one after another into `path` (a .tar.gz). */
export class ArchiveWriter {
  private readonly pack = tar.pack();
  private readonly done: Promise<void>;
  readonly members: Record<string, MemberDigest> = {};

  constructor(path: string) {
    this.done = pipeline(this.pack, createGzip({ level: 6 }), createWriteStream(path, { mode: 0o600 }));
    // Observed through `finish()`/`abort()`; an unobserved rejection must not crash the process.
    this.done.catch(() => {});
  }

  /** Adds a member of exactly `size` bytes read from `source`; records its digest. */
  async add(name: string, size: number, source: Readable): Promise<MemberDigest> {
    const hash = createHash("sha256");
    let written = 0;
    // tar-stream's entries are streamx streams: written by hand rather than through pipeline().
    let settle!: (error?: Error | null) => void;
    const completion = new Promise<void>((resolve, reject) => {
      settle = (error) => (error ? reject(error) : resolve());
    });
    completion.catch(() => {});
    const entry = this.pack.entry({ name, size, mode: 0o600, mtime: new Date() }, (error) => settle(error));
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        written += chunk.length;
        if (written > size) throw new Error(`${name} grew while it was being archived`);
        hash.update(chunk);
        if (!entry.write(chunk)) await new Promise<void>((resolve) => entry.once("drain", () => resolve()));
      }
    } catch (error) {
      entry.destroy(error as Error);
      source.destroy();
      throw error;
    }
    if (written !== size) {
      const error = new Error(`${name} changed size while it was being archived`);
      entry.destroy(error);
      throw error;
    }
    (entry as unknown as { end(): void }).end();
    await completion;
    const result = { size, sha256: hash.digest("hex") };
    this.members[name] = result;
    return result;
  }

  async addBuffer(name: string, bytes: Buffer): Promise<void> {
    const source = new PassThrough();
    source.end(bytes);
    await this.add(name, bytes.length, source);
  }

  async finish(): Promise<void> {
    this.pack.finalize();
    await this.done;
  }

  async abort(error: Error): Promise<void> {
    this.pack.destroy(error);
    await this.done.catch(() => {});
  }
}

/**
 * Calls `onMember` for each member in archive order with a stream of its bytes, which the
 * callback must consume. Damage to the gzip or tar framing becomes a CorruptArchiveError.
 */
export async function readArchive(
  path: string,
  onMember: (name: string, size: number, body: Readable) => Promise<void>,
): Promise<void> {
  const extract = tar.extract();
  const reading = pipeline(createReadStream(path), createGunzip(), extract);
  reading.catch(() => {});
  try {
    for await (const entry of extract) {
      if (entry.header.type !== "file") {
        entry.resume();
        continue;
      }
      // tar-stream's entries are streamx streams; callers get a Node stream.
      const body = Readable.from(entry as AsyncIterable<Buffer>, { objectMode: false });
      await onMember(entry.header.name, entry.header.size ?? 0, body);
      // A member the callback skipped must still be read through before the next one arrives.
      if (!body.readableEnded) {
        body.resume();
        await finished(body);
      }
    }
    await reading;
  } catch (error) {
    extract.destroy();
    await reading.catch(() => {});
    if (error instanceof CorruptArchiveError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EACCES" || code === "EISDIR") throw error;
    if (isFramingError(error)) throw new CorruptArchiveError((error as Error).message);
    throw error;
  }
}

function isFramingError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code ?? "";
  const message = (error as Error).message ?? "";
  return (
    code.startsWith("Z_") ||
    code === "ERR_STREAM_PREMATURE_CLOSE" ||
    /unexpected end|invalid tar|header|checksum/i.test(message)
  );
}

/**
 * First pass over an archive: every member's digest against the manifest. Returns the
 * parsed manifest; throws CorruptArchiveError listing what does not match.
 */
export async function verifyArchive<M extends { members: Record<string, MemberDigest> }>(
  path: string,
): Promise<M> {
  const seen: Record<string, MemberDigest> = {};
  let manifestText: string | undefined;
  await readArchive(path, async (name, _size, body) => {
    const { stream, digest } = digestingStream();
    if (name === MANIFEST_MEMBER) {
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        total += chunk.length;
        if (total > MAX_MANIFEST_BYTES) throw new CorruptArchiveError("the manifest is implausibly large");
        chunks.push(chunk);
      }
      manifestText = Buffer.concat(chunks).toString("utf8");
      return;
    }
    await pipeline(body, stream, new Writable({ write: (_chunk, _encoding, callback) => callback() }));
    seen[name] = digest();
  });
  if (manifestText === undefined) throw new CorruptArchiveError("it has no manifest.json");
  let manifest: M;
  try {
    manifest = JSON.parse(manifestText) as M;
  } catch {
    throw new CorruptArchiveError("manifest.json is not valid JSON");
  }
  if (typeof manifest?.members !== "object" || manifest.members === null) {
    throw new CorruptArchiveError("manifest.json lists no members");
  }
  const problems: string[] = [];
  for (const [name, expected] of Object.entries(manifest.members)) {
    const actual = seen[name];
    if (!actual) problems.push(`${name} is missing`);
    else if (actual.sha256 !== expected.sha256 || actual.size !== expected.size)
      problems.push(`${name} does not match its SHA-256`);
  }
  for (const name of Object.keys(seen)) {
    if (!(name in manifest.members)) problems.push(`${name} is not in the manifest`);
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 5).join("; ");
    throw new CorruptArchiveError(problems.length > 5 ? `${shown}; and ${problems.length - 5} more` : shown);
  }
  return manifest;
}

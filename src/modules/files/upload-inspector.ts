import { createHash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { type DetectedType, detectContentType, SNIFF_BYTES } from "./content-type.js";

export interface InspectorOptions {
  /** More bytes than this fail the stream with `tooLarge()`'s error. */
  limit: number;
  tooLarge: () => Error;
  /** The error for a stream that ends without a single byte. */
  empty: () => Error;
  /** Called once with the detected type before any byte passes on; throw to refuse the file. */
  onType: (type: DetectedType) => void;
}

/**
 * Sits between the upload and storage: counts and limits the bytes, hashes them, and holds
 * back the first few kilobytes until their type is known — so a refused type or an oversized
 * file fails the stream (and storage discards what it had) without the file ever being
 * buffered whole.
 */
export class UploadInspector extends Transform {
  private readonly hash = createHash("sha256");
  private head: Buffer[] = [];
  private headBytes = 0;
  private inspected = false;
  size = 0;
  type: DetectedType | undefined;

  constructor(private readonly options: InspectorOptions) {
    super();
  }

  get sha256(): string {
    return this.hash.copy().digest("hex");
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.options.limit) {
      callback(this.options.tooLarge());
      return;
    }
    this.hash.update(chunk);
    if (this.inspected) {
      callback(null, chunk);
      return;
    }
    this.head.push(chunk);
    this.headBytes += chunk.length;
    if (this.headBytes < SNIFF_BYTES) callback();
    else this.inspect().then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    if (this.size === 0) callback(this.options.empty());
    else if (this.inspected) callback();
    else this.inspect().then(() => callback(), callback);
  }

  private async inspect(): Promise<void> {
    const head = Buffer.concat(this.head);
    this.head = [];
    this.type = await detectContentType(head.subarray(0, SNIFF_BYTES));
    this.options.onType(this.type);
    this.inspected = true;
    this.push(head);
  }
}

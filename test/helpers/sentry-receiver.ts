import { createServer } from "node:http";
import { gunzipSync } from "node:zlib";

/** One item of an envelope, with its raw text (to check nothing secret is anywhere in it). */
export interface EnvelopeItem {
  type: string;
  payload: Record<string, unknown>;
  raw: string;
}

export interface SentryReceiver {
  /** A DSN that sends this project's envelopes here. */
  dsn: string;
  items: EnvelopeItem[];
  /** Every envelope as received, decoded. */
  raw: string[];
  close(): Promise<void>;
}

/**
 * A local stand-in for Sentry's ingestion endpoint: takes `POST /api/<project>/envelope/`,
 * decodes the envelope (newline-separated JSON: a header, then item header and payload pairs)
 * and keeps its items.
 */
export async function startSentryReceiver(): Promise<SentryReceiver> {
  const items: EnvelopeItem[] = [];
  const raw: string[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      let body = Buffer.concat(chunks);
      if (request.headers["content-encoding"] === "gzip") body = gunzipSync(body);
      const text = body.toString("utf8");
      raw.push(text);
      const lines = text.split("\n").filter((line) => line.trim() !== "");
      for (let i = 1; i + 1 < lines.length; i += 2) {
        const header = JSON.parse(lines[i] as string) as { type: string };
        items.push({
          type: header.type,
          payload: JSON.parse(lines[i + 1] as string) as Record<string, unknown>,
          raw: lines[i + 1] as string,
        });
      }
      response.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    dsn: `http://publickey@127.0.0.1:${port}/1`,
    items,
    raw,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

import fastifyMultipart from "@fastify/multipart";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyReply } from "fastify";
import { Type } from "typebox";
import type { UploadsConfig } from "../../config.js";
import { ProblemRef, problemCodes } from "../../http/openapi.js";
import {
  BadRequestError,
  RangeNotSatisfiableError,
  UnsupportedMediaTypeError,
  ValidationFailedError,
} from "../../shared/errors.js";
import { optionalAuth, principalOf, requireAuth } from "../auth/auth.plugin.js";
import {
  contentDisposition,
  etagOf,
  FILE_SECURITY_HEADERS,
  ifRangeAllows,
  matchesEtag,
  parseRange,
} from "./files.http.js";
import { toFileResponse } from "./files.mappers.js";
import { FileBytes, FileIdParamsSchema, FileSchema, NotModified } from "./files.schemas.js";
import type { FilesService } from "./files.service.js";

const UPLOAD_DESCRIPTION = `\`multipart/form-data\` with the file in the field \`file\`. The type is
detected from the bytes and must be on the allow-list (415 otherwise, also when the name's
extension does not match the content); over the size limit → 413 \`file_too_large\`; past the
caller's storage quota → 413 \`quota_exceeded\`. The body holds that one part only: another
file, field or part → 413 (\`files_limit\`, \`fields_limit\`, \`parts_limit\`). A file name over
1 KiB (UTF-8) → 422; an empty file → 400 \`empty_file\`; a body that ends before the file does
→ 400 \`upload_incomplete\`. A request refused before its body was read is answered with
\`Connection: close\`.`;

const DOWNLOAD_DESCRIPTION = `Streams the bytes with \`ETag\` (\`If-None-Match\` → 304) and
\`Accept-Ranges: bytes\`: one \`Range\` → 206, a malformed or unsatisfiable one → 416, several
ranges → the whole file with 200. Raster images are served \`inline\`, everything else as an
\`attachment\`. Files shown by a post are public; others only to their owner and admins (404
for anyone else).`;

/**
 * The upload's body for the OpenAPI document only (set by the route's swaggerTransform): the
 * route declares no body schema, so Fastify never validates the multipart stream; the handler
 * reads its one part itself.
 */
function uploadBodyDocument(config: UploadsConfig) {
  return {
    type: "object",
    required: ["file"],
    additionalProperties: false,
    properties: {
      file: {
        type: "string",
        format: "binary",
        description:
          `The file, at most ${config.maxBytes} bytes (\`MAX_UPLOAD_BYTES\`); its type, detected from ` +
          `the bytes, one of ${config.allowedTypes.join(", ")} (\`UPLOAD_ALLOWED_TYPES\`).`,
      },
    },
  };
}

/** Part headers (disposition with a 1 KiB name, percent-encoded at worst, and a type) fit in this. */
const MAX_PART_HEADER_BYTES = 8 * 1024;

const headerOf = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(",") : value);

/** Byte responses share their headers; the bytes may only ever be a download or an image. */
function fileHeaders(reply: FastifyReply, headers: { etag: string; type: string; disposition: string }) {
  reply.headers({
    ...FILE_SECURITY_HEADERS,
    etag: headers.etag,
    "accept-ranges": "bytes",
    // Visibility can change (a post is deleted): caches must check back, and only browsers keep copies.
    "cache-control": "private, no-cache",
    "content-disposition": headers.disposition,
  });
  reply.type(headers.type === "text/plain" ? "text/plain; charset=utf-8" : headers.type);
}

/**
 * The next multipart part. The parser's limit errors carry their own status (413 and so on);
 * what it throws without one is a malformed body (no boundary, a boundary over 256 bytes, a
 * body that ends mid-part, a client gone mid-upload) and is the client's fault: 400, not 500.
 */
async function nextPart<T>(parts: AsyncIterableIterator<T>): Promise<IteratorResult<T>> {
  try {
    return await parts.next();
  } catch (error) {
    if (typeof (error as { statusCode?: unknown }).statusCode === "number") throw error;
    throw new BadRequestError(
      "malformed_multipart",
      `The multipart body could not be read (${(error as Error).message}); send one part named \`file\``,
    );
  }
}

export const filesRoutes: FastifyPluginAsyncTypebox<{
  filesService: FilesService;
  config: UploadsConfig;
}> = async (app, { filesService, config }) => {
  // Registered here, so only this route accepts multipart bodies. The file part is streamed;
  // busboy stops one byte past the limit, which the upload inspector turns into a 413. The
  // body is one part, the file: anything more is refused (413) before it is read, and part
  // headers are bounded (a longer header is cut, leaving a name the 1 KiB cap refuses).
  const limits = {
    fileSize: config.maxBytes + 1,
    files: 1,
    fields: 0,
    parts: 1,
    fieldNameSize: 100,
    fieldSize: 1024,
    headerPairs: 10,
    // busboy's own limit (80 KiB by default), passed through though the plugin's types omit it.
    headerSize: MAX_PART_HEADER_BYTES,
  };
  await app.register(fastifyMultipart, { limits });

  // A request refused before its body was read to the end: the rest of the body is never
  // read, so the connection closes after the response instead of waiting for it.
  app.addHook("onSend", async (request, reply) => {
    if (reply.statusCode >= 400 && !request.raw.complete) reply.header("connection", "close");
  });

  app.post(
    "/files",
    {
      schema: {
        tags: ["files"],
        operationId: "uploadFile",
        summary: "Upload a file",
        description: UPLOAD_DESCRIPTION,
        consumes: ["multipart/form-data"],
        security: requireAuth("files:write"),
        response: { 201: FileSchema, 400: ProblemRef, 413: ProblemRef, 415: ProblemRef, 422: ProblemRef },
        ...problemCodes({
          400: ["empty_file", "upload_incomplete", "malformed_multipart", "proto_violation"],
          413: ["file_too_large", "quota_exceeded", "files_limit", "fields_limit", "parts_limit"],
          415: ["unsupported_file_type", "extension_mismatch", "multipart_required"],
        }),
      },
      config: {
        swaggerTransform: ({ schema, url }) => ({
          schema: { ...schema, body: uploadBodyDocument(config) },
          url,
        }),
      },
    },
    async (request, reply) => {
      if (!request.isMultipart()) {
        throw new UnsupportedMediaTypeError("multipart_required", "Send the file as multipart/form-data");
      }
      const parts = request.parts();
      const part = (await nextPart(parts)).value;
      if (part?.type !== "file" || part.fieldname !== "file") {
        throw new ValidationFailedError([
          { loc: ["body", "file"], msg: "a file in the field `file` is required", type: "missing" },
        ]);
      }
      const file = await filesService.upload(principalOf(request), {
        // A file part may come without a filename; the stored name then falls back to a default.
        filename: part.filename ?? "",
        stream: part.file,
        // Anything after the file (another part) fails here with the parser's limit error.
        async ended() {
          await nextPart(parts);
        },
      });
      return reply.code(201).send(toFileResponse(file));
    },
  );

  app.get(
    "/files/:id",
    {
      schema: {
        tags: ["files"],
        operationId: "downloadFile",
        summary: "Download a file",
        description: DOWNLOAD_DESCRIPTION,
        security: optionalAuth,
        params: FileIdParamsSchema,
        response: {
          200: FileBytes,
          206: FileBytes,
          304: NotModified,
          404: ProblemRef,
          416: ProblemRef,
          422: ProblemRef,
        },
        ...problemCodes({ 404: ["file_not_found"], 416: ["range_not_satisfiable"] }),
      },
    },
    async (request, reply) => {
      const file = await filesService.getFile(request.principal, request.params.id);
      const etag = etagOf(file.sha256);
      fileHeaders(reply, {
        etag,
        type: file.contentType,
        disposition: contentDisposition(file.filename, file.contentType),
      });
      if (matchesEtag(request.headers["if-none-match"], etag)) return reply.code(304).send(null);
      const range = ifRangeAllows(headerOf(request.headers["if-range"]), etag)
        ? parseRange(request.headers.range, file.size)
        : "full";
      if (range === "unsatisfiable") {
        throw new RangeNotSatisfiableError(
          "range_not_satisfiable",
          `The range is not within the file's ${file.size} bytes`,
          { headers: { "content-range": `bytes */${file.size}` } },
        );
      }
      if (range === "full") {
        reply.header("content-length", file.size);
        return reply.send(await filesService.openContent(file));
      }
      return reply
        .code(206)
        .header("content-range", `bytes ${range.start}-${range.end}/${file.size}`)
        .header("content-length", range.end - range.start + 1)
        .send(await filesService.openContent(file, range));
    },
  );

  app.get(
    "/files/:id/thumbnail",
    {
      schema: {
        tags: ["files"],
        operationId: "getFileThumbnail",
        summary: "A file's thumbnail",
        description:
          "A WebP preview of at most 320×320 pixels for images, made in the background after the upload; 404 until it exists. Same access rules as the file.",
        security: optionalAuth,
        params: FileIdParamsSchema,
        response: { 200: FileBytes, 304: NotModified, 404: ProblemRef, 422: ProblemRef },
        ...problemCodes({ 404: ["file_not_found", "thumbnail_not_found"] }),
      },
    },
    async (request, reply) => {
      const thumbnail = await filesService.getThumbnail(request.principal, request.params.id);
      const etag = etagOf(`${thumbnail.file.sha256}-thumb`);
      fileHeaders(reply, {
        etag,
        type: "image/webp",
        disposition: contentDisposition(`${thumbnail.file.filename}.thumb.webp`, "image/webp"),
      });
      if (matchesEtag(request.headers["if-none-match"], etag)) return reply.code(304).send(null);
      reply.header("content-length", thumbnail.size);
      return reply.send(await thumbnail.open());
    },
  );

  app.delete(
    "/files/:id",
    {
      schema: {
        tags: ["files"],
        operationId: "deleteFile",
        summary: "Delete a file (its owner or an admin)",
        description:
          "The file disappears from every post that shows it; its bytes are removed in the background.",
        security: requireAuth("files:write"),
        params: FileIdParamsSchema,
        response: { 204: Type.Null(), 403: ProblemRef, 404: ProblemRef, 422: ProblemRef },
        ...problemCodes({ 403: ["not_file_owner"], 404: ["file_not_found"] }),
      },
    },
    async (request, reply) => {
      await filesService.deleteFile(principalOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );
};

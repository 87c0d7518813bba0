import { type Static, Type } from "typebox";

export const FileId = Type.Integer({ minimum: 1, maximum: 2_147_483_647, description: "File id" });

export const FileSchema = Type.Object(
  {
    id: Type.Integer(),
    filename: Type.String({ description: "The uploaded name, sanitized to a plain file name" }),
    content_type: Type.String({ description: "Detected from the bytes, not taken from the client" }),
    size: Type.Integer({ description: "Bytes" }),
    sha256: Type.String({ description: "Hex SHA-256 of the bytes (also the download's ETag)" }),
    created_at: Type.String({ format: "date-time" }),
  },
  { title: "File" },
);

/** The live feed's `file.processed` event: an uploaded image's thumbnail is ready. */
export const FileProcessedSchema = Type.Object(
  {
    id: Type.Integer({ description: "The file's id" }),
    thumbnail_url: Type.String({ description: "Where to download the preview" }),
    thumbnail_content_type: Type.Literal("image/webp"),
    thumbnail_size: Type.Integer({ description: "Bytes" }),
  },
  { title: "FileProcessed", additionalProperties: false },
);
export type FileProcessed = Static<typeof FileProcessedSchema>;

/** A stream of bytes; documented for OpenAPI, never serialized (streams bypass serializers). */
export const FileBytes = Type.Unsafe<unknown>({ type: "string", format: "binary", description: "The bytes" });

export const FileIdParamsSchema = Type.Object({ id: FileId });

export const NotModified = Type.Null({
  description: "Not modified: the client's copy (If-None-Match) is current",
});

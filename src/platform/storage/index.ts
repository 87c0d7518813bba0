import { join } from "node:path";
import type { Config } from "../../config.js";
import { createLocalStorage } from "./local-storage.js";
import type { ObjectStorage } from "./storage.js";

export * from "./storage.js";

/**
 * Chosen once from config. Today: files under DATA_DIR/files. When the API and workers run
 * on several machines, that directory must be shared storage (or an S3-compatible adapter
 * takes this place behind the same port).
 */
export function openStorage(config: Pick<Config, "dataDir">): ObjectStorage {
  return createLocalStorage(join(config.dataDir, "files"));
}

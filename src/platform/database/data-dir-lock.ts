import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { isAlive } from "../process/pids.js";

export class DataDirLockedError extends Error {
  constructor(dataDir: string, pid: number) {
    super(
      `The embedded database in ${dataDir} is already open in process ${pid}. ` +
        "The embedded database belongs to one process; stop that process, use another DATA_DIR, " +
        "or set DATABASE_URL to run several processes on PostgreSQL.",
    );
    this.name = "DataDirLockedError";
  }
}

/**
 * Takes an exclusive lock on `dataDir` for this process, because PGlite would happily let
 * two processes open one data directory and corrupt it. The lock is a file created with
 * O_EXCL holding our pid; a lock left by a dead process (kill -9, power loss) is taken over.
 * A pid file is enough here: the lock only has to hold between processes of one machine.
 */
export function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const lockPath = join(dataDir, "kaira.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(lockPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number.parseInt(readFileSync(lockPath, "utf8"), 10);
      if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
        throw new DataDirLockedError(dataDir, holder);
      }
      rmSync(lockPath, { force: true });
    }
  }
  throw new Error(`Could not lock ${dataDir}`);
}

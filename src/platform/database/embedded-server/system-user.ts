import { spawnSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";

/** The account the PostgreSQL processes run as, when it is not this process's own. */
export interface SystemUser {
  name: string;
  uid: number;
  gid: number;
}

/** The user Kaira runs PostgreSQL as when started by root (and creates when allowed to). */
export const SERVER_USER = "postgres";

/** A problem the person starting Kaira has to fix; the CLI prints the message alone, exit 2. */
export class EmbeddedPostgresSetupError extends Error {
  override name = "EmbeddedPostgresSetupError";
}

/** Reads an account from /etc/passwd (no shell-out: `getent` is not everywhere). */
export function lookupUser(name: string, passwd = "/etc/passwd"): SystemUser | undefined {
  let text: string;
  try {
    text = readFileSync(passwd, "utf8");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    const [user, , uid, gid] = line.split(":");
    if (user === name && uid !== undefined && gid !== undefined) {
      return { name, uid: Number(uid), gid: Number(gid) };
    }
  }
  return undefined;
}

export interface ServerUserOptions {
  /** EMBEDDED_PG_CREATE_USER: create the system user when root and it does not exist. */
  createUser: boolean;
  /** Seams for tests: this process's uid, and how accounts are found and created. */
  uid?: number | undefined;
  lookup?: (name: string) => SystemUser | undefined;
  create?: (name: string) => void;
}

/**
 * PostgreSQL refuses to run as root. Root runs it as the `postgres` system user (creating
 * it only when EMBEDDED_PG_CREATE_USER=true, meant for containers); anyone else runs it as
 * themselves (undefined).
 */
export function serverUser(options: ServerUserOptions): SystemUser | undefined {
  const uid = options.uid ?? process.getuid?.();
  if (uid !== 0) return undefined;
  const lookup = options.lookup ?? ((name: string) => lookupUser(name));
  const existing = lookup(SERVER_USER);
  if (existing) return existing;
  if (!options.createUser) {
    throw new EmbeddedPostgresSetupError(
      `PostgreSQL does not run as root and this machine has no "${SERVER_USER}" user: run Kaira as a normal user, ` +
        "set DATABASE_URL to a PostgreSQL server, or set EMBEDDED_PG_CREATE_USER=true to let Kaira create the system user (for containers).",
    );
  }
  (options.create ?? createSystemUser)(SERVER_USER);
  const created = lookup(SERVER_USER);
  if (!created) throw new EmbeddedPostgresSetupError(`Could not create the system user "${SERVER_USER}".`);
  return created;
}

function createSystemUser(name: string): void {
  const args = [
    "--system",
    "--user-group",
    "--no-create-home",
    "--home-dir",
    "/nonexistent",
    "--shell",
    "/usr/sbin/nologin",
    name,
  ];
  const result = spawnSync("useradd", args, { encoding: "utf8" });
  if (result.error || result.status !== 0) {
    throw new EmbeddedPostgresSetupError(
      `Could not create the system user "${name}" (useradd: ${result.error?.message ?? result.stderr.trim()}). ` +
        "Create it yourself, run Kaira as a normal user, or set DATABASE_URL.",
    );
  }
}

/**
 * Whether `user` can reach `path` (search permission on every directory above it, read on
 * the path itself), judged from the permission bits: this process may be root, for whom
 * access(2) always succeeds.
 */
export function reachableBy(user: SystemUser, path: string): boolean {
  const target = resolve(path);
  const chain: string[] = [];
  for (let current = target; ; current = dirname(current)) {
    chain.push(current);
    if (dirname(current) === current) break;
  }
  return chain.every((entry, index) => {
    let stats: ReturnType<typeof statSync>;
    try {
      stats = statSync(entry);
    } catch {
      return false;
    }
    // Directories above need x; the target needs r (and x when it is a directory).
    const need = index === 0 ? (stats.isDirectory() ? 0o5 : 0o4) : 0o1;
    const bits =
      stats.uid === user.uid
        ? (stats.mode >> 6) & 7
        : stats.gid === user.gid
          ? (stats.mode >> 3) & 7
          : stats.mode & 7;
    return (bits & need) === need;
  });
}

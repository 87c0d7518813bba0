import { describe, expect, it } from "vitest";
import { WeakPasswordError } from "../../src/modules/auth/password-policy.js";
import { explainFailure, UsageError } from "../../src/platform/process/failures.js";

// What a person starting Kaira reads when it cannot start: one line saying what to do, and
// an exit code telling "fix the configuration" (2) from "try again later" (1).
const systemError = (code: string, extra: object = {}) => Object.assign(new Error(code), { code, ...extra });
const listenError = (code: string) =>
  Object.assign(new Error("listen failed"), {
    name: "ListenError",
    host: "0.0.0.0",
    port: 9000,
    cause: systemError(code),
  });
const postgresError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe("explainFailure", () => {
  it.each([
    [
      "a usage error",
      new UsageError("--users must be a whole number"),
      2,
      /^--users must be a whole number$/,
    ],
    [
      "a refused admin password",
      new WeakPasswordError("too common"),
      2,
      /refused: too common\. Choose another ADMIN_PASSWORD/,
    ],
    ["a port in use", listenError("EADDRINUSE"), 1, /port is already in use.*lsof -i :9000/],
    ["a privileged port", listenError("EACCES"), 2, /permission denied/],
    ["an address this machine lacks", listenError("EADDRNOTAVAIL"), 2, /no such address/],
    ["a host name that does not resolve", listenError("ENOTFOUND"), 2, /does not resolve/],
    [
      "an unknown role",
      postgresError("28000", 'role "kaira" does not exist'),
      2,
      /no role "kaira".*createuser/,
    ],
    ["a wrong password", postgresError("28P01", "password authentication failed"), 2, /refused the password/],
    [
      "a missing database",
      postgresError("3D000", 'database "kaira_db" does not exist'),
      2,
      /createdb -O <user> kaira_db/,
    ],
    [
      "a server that is down",
      systemError("ECONNREFUSED", { address: "127.0.0.1", port: 5432 }),
      1,
      /127\.0\.0\.1:5432 \(ECONNREFUSED\)/,
    ],
    [
      "a database host that does not resolve",
      systemError("ENOTFOUND", { hostname: "db" }),
      1,
      /host "db" does not resolve/,
    ],
    [
      "a connect timeout",
      new Error("Connection terminated due to connection timeout"),
      1,
      /did not answer within 5 s/,
    ],
  ])("explains %s in one line", (_case, error, exitCode, message) => {
    const failure = explainFailure(error);
    expect(failure?.exitCode).toBe(exitCode);
    expect(failure?.message).toMatch(message);
    expect(failure?.message).not.toContain("\n");
  });

  it("leaves bugs alone, so they keep their stack trace", () => {
    expect(explainFailure(new TypeError("x is undefined"))).toBeUndefined();
    expect(explainFailure(listenError("EMFILE"))).toBeUndefined();
    expect(explainFailure("not an error")).toBeUndefined();
  });
});

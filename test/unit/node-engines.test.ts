import { readFileSync } from "node:fs";
import semver from "semver";
import { describe, expect, it } from "vitest";

// package.json promises Node 20.19; every installed package must agree, or `npm ci` warns
// EBADENGINE and the package may use APIs that Node 20 lacks.
const lock = JSON.parse(readFileSync(new URL("../../package-lock.json", import.meta.url), "utf8")) as {
  packages: Record<string, { engines?: { node?: string }; optional?: boolean }>;
};
const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  engines: { node: string };
};

describe("supported Node.js versions", () => {
  it("are the ones package.json declares", () => {
    expect(pkg.engines.node).toBe(">=20.19");
  });

  it("are supported by every locked dependency", () => {
    const oldest = semver.minVersion(pkg.engines.node)?.version ?? "20.19.0";
    const refusing = Object.entries(lock.packages)
      .filter(([path, entry]) => path !== "" && entry.engines?.node !== undefined)
      .filter(([, entry]) => !semver.satisfies(oldest, entry.engines?.node as string))
      .map(([path, entry]) => `${path} (${entry.engines?.node})`);
    expect(refusing).toEqual([]);
  });
});

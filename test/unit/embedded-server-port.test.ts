import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { freePort } from "../../src/platform/database/embedded-server/server.js";
import { portsKairaBinds } from "../../src/platform/database/index.js";

// The embedded PostgreSQL server picks a free port before Kaira binds its own: it must never
// pick one Kaira is about to listen on, or Kaira stops with "port already in use".
describe("the embedded server's port", () => {
  it("skips the ports Kaira binds, however often the system hands them out", async () => {
    const handedOut = [9000, 9464, 9000, 41_234];
    const probe = async () => handedOut.shift() as number;
    expect(await freePort([9000, 9464], probe)).toBe(41_234);
  });

  it("takes the first port handed out when none is reserved", async () => {
    expect(await freePort([], async () => 9000)).toBe(9000);
  });

  it("reserves PORT, METRICS_PORT and WORKER_METRICS_PORT from the configuration", () => {
    const config = loadConfig({ PORT: "43001", METRICS_PORT: "43002", WORKER_METRICS_PORT: "43003" });
    expect(portsKairaBinds(config)).toEqual([43_001, 43_002, 43_003]);
    expect(portsKairaBinds(loadConfig({ PORT: "43001" }))).toEqual([43_001]);
  });
});

import { describe, expect, it } from "vitest";
import { onInterrupt, runInterruptCleanups } from "../../src/platform/process/interrupt-cleanups.js";

describe("interrupt cleanups", () => {
  it("runs what is registered, all of it even when one fails, and nothing that was forgotten", async () => {
    const ran: string[] = [];
    const forgetSpool = onInterrupt(async () => {
      ran.push("spool");
    });
    const forgetFailing = onInterrupt(() => {
      throw new Error("a cleanup that fails");
    });
    const forgetDone = onInterrupt(() => ran.push("finished work"));
    forgetDone(); // the work finished normally: nothing left to undo
    await runInterruptCleanups();
    expect(ran).toEqual(["spool"]);
    forgetSpool();
    forgetFailing();
    await runInterruptCleanups();
    expect(ran).toEqual(["spool"]);
  });
});

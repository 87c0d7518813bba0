import { describe, expect, it } from "vitest";
import { scheduleSlot } from "../../src/platform/jobs/jobs.js";

describe("scheduleSlot", () => {
  it("numbers fixed-interval periods", () => {
    expect(scheduleSlot({ name: "x", everyMs: 1000 }, 5_500)).toBe("5");
  });

  it("names a cron run once it is due and for the catch-up window after, in UTC", () => {
    const daily = { name: "backup", cron: "0 3 * * *" };
    expect(scheduleSlot(daily, Date.parse("2026-01-31T03:00:30Z"))).toBe("2026-01-31T03:00:00.000Z");
    expect(scheduleSlot(daily, Date.parse("2026-01-31T03:09:00Z"))).toBe("2026-01-31T03:00:00.000Z");
    expect(scheduleSlot(daily, Date.parse("2026-01-31T03:30:00Z"))).toBeUndefined();
    expect(scheduleSlot(daily, Date.parse("2026-01-31T02:59:00Z"))).toBeUndefined();
  });
});

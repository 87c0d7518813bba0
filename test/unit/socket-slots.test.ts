import { describe, expect, it } from "vitest";
import { createSocketSlots } from "../../src/modules/live/socket-slots.js";
import { createMemoryCache } from "../../src/platform/cache/memory-cache.js";

describe("socket slots", () => {
  const setup = () => {
    let now = 0;
    const cache = createMemoryCache({ now: () => now });
    const slots = createSocketSlots(cache, { perUser: 2, leaseMs: 1_000 });
    return { slots, advance: (ms: number) => (now += ms) };
  };

  it("gives each user at most perUser slots, and a released slot to the next socket", async () => {
    const { slots } = setup();
    const first = await slots.claim(1);
    const second = await slots.claim(1);
    expect(first && second).toBeTruthy();
    expect(await slots.claim(1)).toBeUndefined();
    expect(await slots.claim(2)).toBeDefined(); // another user has slots of their own
    await first?.release();
    expect(await slots.claim(1)).toBeDefined();
  });

  it("keeps a renewed slot past its lease, and frees an abandoned one when its lease ends", async () => {
    const { slots, advance } = setup();
    const renewed = await slots.claim(1);
    await slots.claim(1); // abandoned: its instance crashed, nobody renews it
    for (let i = 0; i < 3; i++) {
      advance(600);
      await renewed?.renew();
    }
    const next = await slots.claim(1);
    expect(next).toBeDefined();
    expect(await slots.claim(1)).toBeUndefined();
  });

  it("never takes back a lapsed slot that another socket holds now", async () => {
    const { slots, advance } = setup();
    const late = await slots.claim(1);
    await slots.claim(1);
    advance(1_500); // both lapse
    const a = await slots.claim(1);
    const b = await slots.claim(1);
    expect(a && b).toBeTruthy();
    await late?.renew(); // its slot belongs to a or b now
    await late?.release(); // and releasing must not free it for a third socket
    expect(await slots.claim(1)).toBeUndefined();
  });
});

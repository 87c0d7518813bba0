import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { createMemoryPubSub } from "../../src/platform/pubsub/memory-pubsub.js";
import type { PubSub } from "../../src/platform/pubsub/pubsub.js";
import { createRedisPubSub } from "../../src/platform/pubsub/redis-pubsub.js";
import { waitFor } from "../helpers/process.js";

// One contract for both adapters; the Redis one runs whenever REDIS_URL is set.
const adapters: [string, () => PubSub][] = [["memory", () => createMemoryPubSub()]];
if (process.env.REDIS_URL) {
  const url = process.env.REDIS_URL;
  adapters.push([
    "redis",
    () => createRedisPubSub(url, { channelPrefix: `kaira-test:${randomBytes(6).toString("hex")}:` }),
  ]);
}

describe.each(adapters)("pub/sub contract: %s", (_name, create) => {
  const pubsub = create();
  afterAll(() => pubsub.close());

  it("delivers to every subscriber of a channel, in order, and to no other channel", async () => {
    const a: string[] = [];
    const b: string[] = [];
    const other: string[] = [];
    const offA = await pubsub.subscribe("news", (m) => a.push(m));
    const offB = await pubsub.subscribe("news", (m) => b.push(m));
    const offOther = await pubsub.subscribe("other", (m) => other.push(m));
    for (const m of ["1", "2", "3"]) await pubsub.publish("news", m);
    await waitFor(async () => a.length === 3 && b.length === 3, 2_000, "delivery");
    expect(a).toEqual(["1", "2", "3"]);
    expect(b).toEqual(["1", "2", "3"]);
    expect(other).toEqual([]);
    await offA();
    await pubsub.publish("news", "4");
    await waitFor(async () => b.length === 4, 2_000, "delivery after unsubscribe");
    expect(a).toEqual(["1", "2", "3"]);
    await offB();
    await offOther();
  });
});

import { createOutboxRepository, type LiveEvent } from "../../platform/events/outbox.js";
import { EVENTS_CHANNEL, startOutboxRelay } from "../../platform/events/outbox-relay.js";
import type { Platform } from "../../platform/platform.js";
import type { SessionRevocations } from "../auth/session-revocations.js";
import type { FeatureModule } from "../feature-module.js";
import { liveRoutes, SOCKET_SLOT_LEASE_MS } from "./live.routes.js";
import { createLiveHub } from "./live-hub.js";
import { createSocketSlots } from "./socket-slots.js";

export { liveAsyncApiDocument } from "./live.asyncapi.js";
export { LIVE_MAX_PAYLOAD } from "./live.routes.js";

const OUTBOX_POLL_MS = 50;

/** A subscription the lifecycle opens before the relay starts; resolves to its unsubscribe. */
export type Subscription = () => Promise<() => Promise<void>>;

export interface LiveModuleDeps
  extends Pick<
    Platform,
    "config" | "logger" | "metrics" | "database" | "cache" | "counters" | "revocationStore" | "pubsub"
  > {
  sessionRevocations: SessionRevocations;
}

/** The live WebSocket feed, and the outbox relay that publishes committed events to every instance. */
export function createLiveModule(deps: LiveModuleDeps) {
  const { config, logger, pubsub } = deps;
  const outbox = createOutboxRepository(deps.database);
  const hub = createLiveHub(deps.metrics, (error) =>
    logger.warn({ err: error, event: "live.delivery_failed" }, "a live event could not be delivered"),
  );
  // The per-user socket cap holds across instances: with a shared cache the slots live in the
  // shared counters (in process memory while Redis is down); in process they share the
  // revocation store, which other keys (throttle counters, say) cannot crowd out.
  const slots = createSocketSlots(deps.cache.shared ? deps.counters : deps.revocationStore, {
    perUser: config.wsMaxSocketsPerUser,
    leaseMs: SOCKET_SLOT_LEASE_MS,
  });

  // Created with the module so that writes can wake it; it runs once the lifecycle starts it.
  let running: ReturnType<typeof startOutboxRelay> | undefined;
  const outboxRelay = {
    start() {
      running ??= startOutboxRelay({
        outbox,
        pubsub,
        intervalMs: OUTBOX_POLL_MS,
        onError: (error) =>
          logger.warn({ err: error, event: "outbox.relay_failed" }, "outbox relay failed; will retry"),
      });
    },
    /**
     * Writes that commit a live event wake this instance's outbox relay, so the event goes
     * out at once rather than at the next poll (before the start, the first poll sends it).
     */
    wake() {
      running?.wake();
    },
    async stop() {
      await running?.stop();
    },
  };

  const subscriptions: Subscription[] = [
    () =>
      pubsub.subscribe(EVENTS_CHANNEL, (message) => {
        // Runs inside the subscriber's 'message' event: a throw here (a malformed message)
        // would escape to the process. A message that is not an event is refused here: queued,
        // it would throw in the flush for every socket and lose the events batched with it.
        try {
          const event = JSON.parse(message) as LiveEvent | null;
          if (typeof event !== "object" || event === null || !Number.isSafeInteger(event.id))
            throw new Error("not a live event");
          hub.deliver(event);
        } catch (error) {
          logger.warn({ err: error, event: "live.delivery_failed" }, "a live event could not be delivered");
        }
      }),
    () => deps.sessionRevocations.subscribe((revoked) => hub.endSessions(revoked)),
  ];

  return {
    routes: async (api) => {
      await api.register(liveRoutes, { hub, outbox, corsOrigins: config.corsOrigins, slots });
    },
    services: { outbox, outboxRelay, subscriptions },
  } satisfies FeatureModule<object>;
}

import type { FastifyPluginAsync } from "fastify";
import type { JobHandler, JobSchedule } from "../platform/jobs/index.js";

/**
 * What a feature (`src/modules/<feature>/index.ts`) gives the application. Building one only
 * wires objects together: nothing connects, listens or starts a timer until the lifecycle
 * starts it, so `kaira worker` builds the same modules to find its jobs.
 */
export interface FeatureModule<Services = Record<string, never>> {
  /** Its HTTP routes (registered under /api/v1 unless the module says otherwise). */
  routes?: FastifyPluginAsync;
  /** Its background jobs by name: every process that works the queue runs these handlers. */
  jobs?: Record<string, JobHandler>;
  /** Jobs enqueued on a timer rather than by a write. */
  schedules?: JobSchedule[];
  /** What other modules may use. */
  services: Services;
}

/** Every module's jobs and schedules, for the processes that work the queue. */
export function jobsOf(modules: FeatureModule<unknown>[]): {
  handlers: Record<string, JobHandler>;
  schedules: JobSchedule[];
} {
  const handlers: Record<string, JobHandler> = {};
  for (const module of modules) {
    for (const [name, handler] of Object.entries(module.jobs ?? {})) {
      if (name in handlers) throw new Error(`two modules handle the job ${name}`);
      handlers[name] = handler;
    }
  }
  return { handlers, schedules: modules.flatMap((module) => module.schedules ?? []) };
}

import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/**
 * Loads a driver package when an adapter is first created, not when Kaira starts: the embedded
 * default never needs ioredis, BullMQ, nodemailer or sharp until it is configured for them (or,
 * for sharp, until the first thumbnail), and loading them up front cost about a third of a
 * second of every start and of every CLI command. The drivers named here are CommonJS
 * packages, so `require` returns the same module an `import` would.
 */
export function loadDriver<T>(name: "ioredis" | "bullmq" | "nodemailer" | "sharp"): T {
  return require(name) as T;
}

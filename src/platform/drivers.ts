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
  try {
    return require(name) as T;
  } catch (error) {
    // Found late now, so say plainly what is wrong rather than show a require stack.
    if ((error as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND") {
      throw new Error(
        `The ${name} package is not installed: run \`npm install\` (it is one of Kaira's dependencies)`,
        {
          cause: error,
        },
      );
    }
    throw error;
  }
}

/**
 * The cache port: small shared state with expiry — login-failure counters, rate-limit
 * windows, per-user auth state. The embedded adapter keeps it in this process; the Redis
 * adapter shares it between every instance, so limits and revocations hold cluster-wide.
 */
export interface Cache {
  /**
   * True when every instance sees the same entries (Redis); false when they live in this
   * process. Limits, revocations and socket slots hold cluster-wide only on a shared cache.
   */
  readonly shared: boolean;
  /** Which server holds the entries ("memory" for this process): for logs and readiness, not for branching. */
  readonly engine: "memory" | "redis";
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Sets only when the key is absent; true when this call set it. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Adds 1 and returns the new count; the expiry is set when the key is created. */
  increment(key: string, ttlMs: number): Promise<number>;
  /** Milliseconds until `key` expires, or 0 when it does not exist. */
  ttl(key: string): Promise<number>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../../config.js";

export interface SigningKey {
  /** Key id in the token header: a fingerprint of the secret, so rotation needs no extra setting. */
  kid: string;
  secret: Uint8Array;
}

export interface SigningKeys {
  current: SigningKey;
  /** Every key a token may be verified with (the current one first), by kid. */
  verification: Map<string, SigningKey>;
}

const toKey = (secret: string): SigningKey => ({
  kid: createHash("sha256").update(secret).digest("hex").slice(0, 16),
  secret: new TextEncoder().encode(secret),
});

/**
 * SECRET_KEY signs; SECRET_KEYS_PREVIOUS still verify (rotate by moving the old key there).
 * Without SECRET_KEY (never in production — config refuses that) a development secret is
 * generated once and kept in DATA_DIR/secret.key so tokens survive restarts; tests get a
 * throwaway one.
 */
export function loadSigningKeys(config: Pick<Config, "auth" | "dataDir" | "nodeEnv">): SigningKeys {
  let secret = config.auth.secretKey;
  if (secret === undefined) {
    if (config.nodeEnv === "test") {
      secret = randomBytes(32).toString("hex");
    } else {
      const path = join(config.dataDir, "secret.key");
      if (!existsSync(path)) {
        mkdirSync(config.dataDir, { recursive: true });
        writeFileSync(path, randomBytes(32).toString("hex"), { flag: "wx", mode: 0o600 });
      }
      chmodSync(path, 0o600);
      secret = readFileSync(path, "utf8").trim();
    }
  }
  const current = toKey(secret);
  const verification = new Map([[current.kid, current]]);
  for (const previous of config.auth.previousSecretKeys) {
    const key = toKey(previous);
    if (!verification.has(key.kid)) verification.set(key.kid, key);
  }
  return { current, verification };
}

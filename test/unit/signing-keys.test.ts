import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { loadSigningKeys } from "../../src/modules/auth/signing-keys.js";

it("generates a development key once under DATA_DIR, private to the owner, and reuses it", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "kaira-keys-"));
  const config = loadConfig({ DATA_DIR: dataDir });
  const first = loadSigningKeys(config);
  const second = loadSigningKeys(config);
  expect(second.current.kid).toBe(first.current.kid);
  expect(first.current.secret.byteLength).toBe(64);
  expect(statSync(join(dataDir, "secret.key")).mode & 0o777).toBe(0o600);
});

it("uses SECRET_KEY to sign and keeps previous keys for verification only", () => {
  const keys = loadSigningKeys(
    loadConfig({ SECRET_KEY: "n".repeat(40), SECRET_KEYS_PREVIOUS: `${"o".repeat(40)},${"n".repeat(40)}` }),
  );
  expect(keys.verification.size).toBe(2);
  expect([...keys.verification.keys()][0]).toBe(keys.current.kid);
});

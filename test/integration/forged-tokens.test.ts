import { createServer, type Server } from "node:net";
import { base64url, SignJWT } from "jose";
import { afterAll, beforeAll, expect, it } from "vitest";
import { bearer, type Session, signUpAndLogin } from "../helpers/auth.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

// Every forged token must be a 401, and none may make the server fetch a key from anywhere.
const SECRET = "a-known-test-secret-that-is-long-enough-0123456789";
let t: TestApp;
let session: Session;
let trap: Server;
let trapConnections = 0;
let trapPort = 0;

beforeAll(async () => {
  t = await createTestApp({ SECRET_KEY: SECRET });
  session = await signUpAndLogin(t.app);
  trap = createServer((socket) => {
    trapConnections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => trap.listen(0, "127.0.0.1", resolve));
  trapPort = (trap.address() as { port: number }).port;
});
afterAll(async () => {
  trap.close();
  await t.close();
});

const key = new TextEncoder().encode(SECRET);
const kid = async () =>
  JSON.parse(new TextDecoder().decode(base64url.decode(session.access.split(".")[0] as string))).kid;
const parts = () => session.access.split(".") as [string, string, string];
const encode = (value: object) => base64url.encode(JSON.stringify(value));
const claims = () => JSON.parse(new TextDecoder().decode(base64url.decode(parts()[1])));

async function sign(header: object, payload: object, secret: Uint8Array = key) {
  return new SignJWT(payload as Record<string, unknown>)
    .setProtectedHeader({ alg: "HS256", typ: "at+jwt", kid: await kid(), ...header })
    .sign(secret);
}

const forgeries: [string, () => Promise<string>][] = [
  ["alg none", async () => `${encode({ alg: "none", typ: "at+jwt" })}.${parts()[1]}.`],
  ["alg None", async () => `${encode({ alg: "None", typ: "at+jwt", kid: await kid() })}.${parts()[1]}.`],
  ["alg noNE", async () => `${encode({ alg: "noNE" })}.${parts()[1]}.x`],
  [
    "a changed payload (role admin, more scope)",
    async () => `${parts()[0]}.${encode({ ...claims(), role: "admin", scope: "admin" })}.${parts()[2]}`,
  ],
  [
    "another user's sub",
    async () => `${parts()[0]}.${encode({ ...claims(), sub: String(session.id + 1000) })}.${parts()[2]}`,
  ],
  [
    "the wrong key",
    async () => sign({}, claims(), new TextEncoder().encode("another-secret-another-secret-another-secret")),
  ],
  ["an expired token", async () => sign({}, { ...claims(), exp: Math.floor(Date.now() / 1000) - 120 })],
  ["nbf in the future", async () => sign({}, { ...claims(), nbf: Math.floor(Date.now() / 1000) + 600 })],
  ["the wrong issuer", async () => sign({}, { ...claims(), iss: "someone-else" })],
  ["the wrong audience", async () => sign({}, { ...claims(), aud: "another-api" })],
  ["the wrong typ", async () => sign({ typ: "JWT" }, claims())],
  ["no version claim", async () => sign({}, { ...claims(), ver: undefined })],
  ["kid path traversal", async () => sign({ kid: "../../../../dev/null" }, claims())],
  ["kid SQL injection", async () => sign({ kid: "' OR '1'='1" }, claims())],
  [
    "jku pointing at a trap",
    async () => sign({ jku: `http://127.0.0.1:${trapPort}/x`, kid: "remote" }, claims()),
  ],
  [
    "x5u pointing at a trap",
    async () => sign({ x5u: `http://127.0.0.1:${trapPort}/x`, kid: "remote" }, claims()),
  ],
  [
    "an embedded jwk",
    async () => sign({ jwk: { kty: "oct", k: base64url.encode("x") }, kid: "embedded" }, claims()),
  ],
  [
    "JSON serialization",
    async () =>
      JSON.stringify({ payload: parts()[1], signatures: [{ protected: parts()[0], signature: parts()[2] }] }),
  ],
  ["quotes and braces", async () => `{"a":"${session.access}"}`],
  ["the refresh token", async () => session.refresh],
  ["an empty string", async () => ""],
];

it.each(forgeries)("refuses %s with 401", async (_name, forge) => {
  const token = await forge();
  const res = await t.app.inject({ url: "/api/v1/users/me", headers: bearer(token) });
  expect(res.statusCode).toBe(401);
  expect(res.headers["www-authenticate"]).toMatch(/^Bearer/);
  expect(res.json().code).toMatch(/invalid_token|not_authenticated/);
});

it("accepted the genuine token and made no outbound connection for any forgery", async () => {
  expect((await t.app.inject({ url: "/api/v1/users/me", headers: bearer(session.access) })).statusCode).toBe(
    200,
  );
  expect(trapConnections).toBe(0);
});

it("still verifies tokens signed with a previous key after rotation", async () => {
  const rotated = await createTestApp({
    SECRET_KEY: "the-new-secret-after-rotation-0123456789abcdef",
    SECRET_KEYS_PREVIOUS: SECRET,
  });
  try {
    // Same kid derivation: the old token names the old key, which is still configured.
    const oldToken = await sign({}, { ...claims(), sub: String(session.id) });
    const res = await rotated.app.inject({ url: "/health/live", headers: bearer(oldToken) });
    expect(res.statusCode).toBe(200);
    const { createAccessTokens } = await import("../../src/modules/auth/access-tokens.js");
    const { loadSigningKeys } = await import("../../src/modules/auth/signing-keys.js");
    const verifier = createAccessTokens(loadSigningKeys(rotated.config), rotated.config.auth);
    expect((await verifier.verify(oldToken)).userId).toBe(session.id);
    const retired = createAccessTokens(
      loadSigningKeys({ ...rotated.config, auth: { ...rotated.config.auth, previousSecretKeys: [] } }),
      rotated.config.auth,
    );
    await expect(retired.verify(oldToken)).rejects.toThrow();
  } finally {
    await rotated.close();
  }
});

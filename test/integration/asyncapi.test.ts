import { Parser } from "@asyncapi/parser";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { bearer, login, type Session, signUpAndLogin } from "../helpers/auth.js";
import { pngOf, upload } from "../helpers/files.js";
import { waitFor } from "../helpers/process.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

// The AsyncAPI document is checked twice: by the AsyncAPI parser (is it a valid 3.0
// document?) and against the socket itself (does every message a real client receives match
// the schema the document gives for it?).
let t: TestApp;
let wsUrl: string;
interface DocumentedMessage {
  name: string;
  payload: object;
  examples: { payload: unknown }[];
}
let document: {
  servers: Record<string, { host: string; protocol: string }>;
  channels: { liveFeed: { messages: Record<string, DocumentedMessage> } };
};

beforeAll(async () => {
  t = await createTestApp({ ADMIN_EMAIL: "asyncapi-admin@example.com", ADMIN_PASSWORD: "AdminPass-123456" });
  wsUrl = `${(await t.app.listen({ port: 0, host: "127.0.0.1" })).replace("http", "ws")}/api/v1/ws`;
  const res = await t.app.inject({
    method: "GET",
    url: "/asyncapi.json",
    headers: { host: "kaira.test:9000" },
  });
  expect(res.statusCode).toBe(200);
  document = res.json();
});
afterAll(() => t.close());

describe("GET /asyncapi.json", () => {
  it("is a valid AsyncAPI 3.0 document with no errors or warnings", async () => {
    const { document: parsed, diagnostics } = await new Parser().parse(JSON.stringify(document));
    const problems = diagnostics
      .filter((d) => d.severity <= 1) // 0 error, 1 warning
      .map((d) => `${d.code} at ${d.path.join(".")}: ${d.message}`);
    expect(problems).toEqual([]);
    expect(parsed?.version()).toBe("3.0.0");
    expect(parsed?.channels().get("liveFeed")?.address()).toBe("/api/v1/ws");
  });

  it("names the server the client reached, ws or wss by how it came", async () => {
    expect(document.servers.kaira).toMatchObject({ host: "kaira.test:9000", protocol: "ws" });
    const behindTls = await t.app.inject({
      method: "GET",
      url: "/asyncapi.json",
      headers: { host: "api.example.com" },
      remoteAddress: "203.0.113.9",
    });
    // Not a trusted proxy, so X-Forwarded-Proto would not count: plain ws.
    expect(behindTls.json().servers.kaira).toMatchObject({ host: "api.example.com", protocol: "ws" });
  });

  it("describes every message a client really receives, including each example", async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    const messages = document.channels.liveFeed.messages;
    const validatorFor = (type: string) => {
      const message = Object.values(messages).find((m) => m.name === type);
      expect(message, `the document lists ${type}`).toBeDefined();
      return ajv.compile(message?.payload ?? {});
    };
    for (const message of Object.values(messages)) {
      const validate = ajv.compile(message.payload);
      for (const example of message.examples) {
        expect(validate(example.payload), `${message.name} example: ${ajv.errorsText(validate.errors)}`).toBe(
          true,
        );
      }
    }

    const admin = (await login(t.app, "asyncapi-admin@example.com", "AdminPass-123456")).json().access_token;
    const reader: Session = await signUpAndLogin(t.app);
    const writer: Session = await signUpAndLogin(t.app);
    const received: { type: string }[] = [];
    const auth = { type: "auth", access_token: reader.access };
    expect(validatorFor("auth")(auth)).toBe(true);
    const socket = new WebSocket(wsUrl);
    socket.on("message", (data) => received.push(JSON.parse(data.toString())));
    await new Promise((resolve, reject) => socket.on("open", resolve).on("error", reject));
    socket.send(JSON.stringify(auth));
    await waitFor(async () => received.some((m) => m.type === "ready"), 5_000, "ready");

    const post = await t.app.inject({
      method: "POST",
      url: "/api/v1/posts",
      headers: bearer(writer.access),
      payload: { title: "Documented", content: "every field", tags: ["asyncapi"] },
    });
    const id = post.json().id;
    await t.app.inject({
      method: "PATCH",
      url: `/api/v1/posts/${id}`,
      headers: bearer(writer.access),
      payload: { title: "Documented twice" },
    });
    await t.app.inject({ method: "DELETE", url: `/api/v1/posts/${id}`, headers: bearer(writer.access) });
    const idOf = async (session: Session) =>
      (await t.app.inject({ method: "GET", url: "/api/v1/users/me", headers: bearer(session.access) })).json()
        .id;
    const minted = await t.app.inject({
      method: "POST",
      url: "/api/v1/admin/credits",
      headers: bearer(admin),
      payload: { user_id: await idOf(writer), amount: 1000 },
    });
    expect(minted.statusCode).toBe(201);
    const sent = await t.app.inject({
      method: "POST",
      url: "/api/v1/transfers",
      headers: { ...bearer(writer.access), "idempotency-key": "asyncapi-transfer-1" },
      payload: { to_user_id: await idOf(reader), amount: 250, memo: "documented" },
    });
    expect(sent.statusCode).toBe(201);
    const image = await upload(t.app, reader.access, "pixel.png", await pngOf(32, 32));
    expect(image.statusCode).toBe(201);
    const expected = [
      "ready",
      "post.created",
      "post.updated",
      "post.deleted",
      "transfer.received",
      "file.processed",
    ];
    await waitFor(
      async () => expected.every((type) => received.some((m) => m.type === type)),
      10_000,
      `all of ${expected.join(", ")}`,
    );
    socket.close();
    for (const message of received) {
      const validate = validatorFor(message.type);
      expect(validate(message), `${message.type}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    }
  });
});

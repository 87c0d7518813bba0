import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, login, signUpAndLogin } from "../helpers/auth.js";
import { freePort, waitFor } from "../helpers/process.js";
import { startSmtpServer, type TestSmtpServer } from "../helpers/smtp.js";
import { createTestApp, newUser, type TestApp } from "../helpers/test-app.js";

const ADMIN = { email: "jobs-admin@example.com", password: "AdminPass-123456" };

describe("welcome message on sign-up (file mailer)", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ JOBS_IN_PROCESS: "true" });
  });
  afterAll(() => t.close());

  it("writes one welcome message per sign-up, addressed to the new user", async () => {
    const user = newUser();
    const res = await t.app.inject({ method: "POST", url: "/api/v1/users", payload: user });
    expect(res.statusCode).toBe(201);
    const file = await waitFor(
      async () =>
        // The mailer writes a temporary file and renames it, so only a finished `.eml` counts.
        (await readdir(t.config.mail.dir).catch(() => [])).find(
          (name) => name.startsWith(`welcome-${res.json().id}-`) && name.endsWith(".eml"),
        ),
      10_000,
      "the welcome message",
    );
    const eml = await readFile(join(t.config.mail.dir, file), "utf8");
    expect(eml).toContain(`To: ${user.email}`);
    expect(eml).toContain("Subject: Welcome to Kaira");
    expect(eml).toContain(`Hello ${user.username},`);
    expect(eml).not.toContain(user.password);
  });

  it("records no job when the sign-up is refused", async () => {
    const user = newUser();
    await t.app.inject({ method: "POST", url: "/api/v1/users", payload: user });
    const before = (await t.jobs.counts()).waiting + (await t.jobs.counts()).active;
    const duplicate = await t.app.inject({
      method: "POST",
      url: "/api/v1/users",
      payload: { ...user, username: `${user.username}x` },
    });
    expect(duplicate.statusCode).toBe(400);
    const after = await t.jobs.counts();
    expect(after.waiting + after.active).toBeLessThanOrEqual(before);
  });
});

describe("SMTP delivery, failed jobs and the admin job endpoints", () => {
  let t: TestApp;
  let smtpPort: number;
  let admin: string;
  let smtp: TestSmtpServer | undefined;

  beforeAll(async () => {
    smtpPort = await freePort();
    t = await createTestApp({
      JOBS_IN_PROCESS: "true",
      JOB_ATTEMPTS: "1",
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
    });
    admin = (await login(t.app, ADMIN.email, ADMIN.password)).json().access_token;
  });
  afterAll(async () => {
    await t.close();
    await smtp?.close();
  });

  it("keeps a job failed while the mail server is down, shows it to admins only, and delivers on retry", async () => {
    // No SMTP server listens yet: the welcome job fails its only attempt and is kept.
    const user = newUser();
    const created = await t.app.inject({ method: "POST", url: "/api/v1/users", payload: user });
    expect(created.statusCode).toBe(201);
    const failed = await waitFor(
      async () => {
        const res = await t.app.inject({
          method: "GET",
          url: "/api/v1/admin/jobs?state=failed",
          headers: bearer(admin),
        });
        return res
          .json()
          .items.find((job: { data: { user_id: number } }) => job.data.user_id === created.json().id);
      },
      15_000,
      "the failed welcome job",
    );
    expect(failed).toMatchObject({
      name: "users.welcome_email",
      state: "failed",
      attempts_made: 1,
      max_attempts: 1,
    });
    expect(failed.error).toMatch(/ECONNREFUSED|connect/i);

    const someone = await signUpAndLogin(t.app);
    const forbidden = await t.app.inject({
      method: "GET",
      url: "/api/v1/admin/jobs?state=failed",
      headers: bearer(someone.access),
    });
    expect(forbidden.statusCode).toBe(403);
    const anonymous = await t.app.inject({ method: "GET", url: "/api/v1/admin/jobs" });
    expect(anonymous.statusCode).toBe(401);
    const badState = await t.app.inject({
      method: "GET",
      url: "/api/v1/admin/jobs?state=lost",
      headers: bearer(admin),
    });
    expect(badState.statusCode).toBe(422);

    smtp = await startSmtpServer(smtpPort);
    const retried = await t.app.inject({
      method: "POST",
      url: `/api/v1/admin/jobs/${failed.id}/retry`,
      headers: bearer(admin),
    });
    expect(retried.statusCode).toBe(202);
    expect(retried.json()).toEqual({ id: failed.id, state: "waiting" });
    const message = await waitFor(
      async () => smtp?.received.find((m) => m.to.includes(user.email)),
      15_000,
      "the message at the SMTP server",
    );
    expect(message.body).toContain("Subject: Welcome to Kaira");
    expect(message.body).toContain(`Message-ID: <welcome-${created.json().id}-`);

    const again = await t.app.inject({
      method: "POST",
      url: `/api/v1/admin/jobs/${failed.id}/retry`,
      headers: bearer(admin),
    });
    expect(again.statusCode).toBe(404);
    expect(again.json().code).toBe("job_not_found");
    const completed = await t.app.inject({
      method: "GET",
      url: "/api/v1/admin/jobs?state=completed&limit=100",
      headers: bearer(admin),
    });
    expect(completed.statusCode).toBe(200);
    expect(completed.json().counts.completed).toBeGreaterThanOrEqual(1);
  });
});

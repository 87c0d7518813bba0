import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OAuth2Server } from "oauth2-mock-server";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { linkIn, waitForMail } from "../helpers/mail.js";
import { freePort, type KairaProcess, startServer, stopEmbeddedServer } from "../helpers/process.js";
import { createTestDatabase, onPostgres, type TestDatabase } from "../helpers/test-database.js";
import { codeFor } from "../helpers/totp.js";
import { launchChromium, seriousAccessibilityViolations, watchForFaults } from "./browser.js";

// Accounts in a real Chromium against a real `kaira serve`: the pages mail links open (the
// file mailer writes each message to MAIL_DIR, where the test reads it as a user reads mail),
// sign-in with an OpenID Connect provider (oauth2-mock-server, which signs in whoever comes
// and sends the browser straight back), and the second factor.
const dataDir = mkdtempSync(join(tmpdir(), "kaira-browser-accounts-"));
const mailDir = join(dataDir, "mail");
let testDb: TestDatabase | undefined;
let server: (KairaProcess & { baseUrl: string }) | undefined;
let base: string;
let browser: Browser;
const faults: (() => string[])[] = [];
const provider = new OAuth2Server();
/** What the provider's next ID token says about the person. */
let claims: Record<string, unknown> = {};

const ADMIN = { email: "accounts-admin@example.com", password: "Console-Key-5519" };
const carol = { email: "carol@example.com", username: "carol", password: "Meadow-Pass-8642" };

beforeAll(async () => {
  await provider.issuer.keys.generate("RS256");
  await provider.start(0, "127.0.0.1");
  provider.service.on("beforeTokenSigning", (token: { payload: Record<string, unknown> }) => {
    Object.assign(token.payload, claims);
  });
  const port = await freePort();
  const env: Record<string, string> = {
    PORT: String(port),
    OIDC_PROVIDERS: "mock",
    OIDC_MOCK_ISSUER: provider.issuer.url as string,
    OIDC_MOCK_CLIENT_ID: "kaira-browser",
    OIDC_MOCK_CLIENT_SECRET: "kaira-browser-secret",
    // The web app is the page a provider's sign-in returns to.
    OIDC_RETURN_URL: `http://127.0.0.1:${port}/`,
    OIDC_CALLBACK_BASE_URL: `http://127.0.0.1:${port}`,
    RATE_LIMIT_PER_MINUTE: "0",
    SIGNUP_PER_HOUR: "0",
    LOG_LEVEL: "warn",
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
    DATA_DIR: dataDir,
    MAIL_DIR: mailDir,
  };
  if (onPostgres()) {
    testDb = await createTestDatabase();
    env.DATABASE_URL = testDb.url as string;
  }
  server = await startServer(env);
  base = server.baseUrl;
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  if (server) {
    server.child.kill("SIGTERM");
    await server.exited;
  }
  await provider.stop();
  await testDb?.drop();
  if (!onPostgres()) await stopEmbeddedServer(dataDir);
  rmSync(dataDir, { recursive: true, force: true });
});

async function newPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  const pageFaults = watchForFaults(page);
  faults.push(() => pageFaults);
  return page;
}

async function signIn(page: Page, user: { email: string; password: string }) {
  await page.goto(base);
  const form = page.getByRole("form", { name: "Sign in" });
  await form.getByLabel("Email or username", { exact: true }).fill(user.email);
  await form.getByLabel("Password", { exact: true }).fill(user.password);
  await form.getByRole("button", { name: "Sign in", exact: true }).click();
}

async function me(user: { email: string; password: string }) {
  const res = await fetch(`${base}/api/v1/auth/token`, {
    method: "POST",
    body: new URLSearchParams({ username: user.email, password: user.password }),
  });
  expect(res.status).toBe(200);
  const { access_token } = (await res.json()) as { access_token: string };
  const profile = await fetch(`${base}/api/v1/users/me`, {
    headers: { authorization: `Bearer ${access_token}` },
  });
  return (await profile.json()) as { id: number; email_verified: boolean };
}

describe("the pages mail links open", () => {
  it("verifies the address from the welcome mail's link", async () => {
    const page = await newPage();
    await page.goto(base);
    const signUp = page.getByRole("form", { name: "Create an account" });
    await signUp.getByLabel("Email").fill(carol.email);
    await signUp.getByLabel("Username").fill(carol.username);
    await signUp.getByLabel("Password").fill(carol.password);
    await signUp.getByRole("button", { name: "Create account" }).click();
    await page.getByText("Account created for carol").waitFor();
    expect((await me(carol)).email_verified).toBe(false);

    const mail = await waitForMail(mailDir, carol.email, "Welcome to Kaira");
    const { url } = linkIn(mail);
    expect(url.pathname).toBe("/account/verify-email");
    // The server never sees the token: it is in the fragment, which the request leaves out.
    const requested: string[] = [];
    page.on("request", (request) => requested.push(request.url()));
    await page.goto(url.toString());
    await page.getByRole("heading", { name: "Verify your email address" }).waitFor();
    // The page took the token out of the address bar.
    expect(new URL(page.url()).hash).toBe("");
    expect(await seriousAccessibilityViolations(page)).toEqual([]);
    await page.getByRole("button", { name: "Verify email address" }).click();
    await page.getByRole("status").filter({ hasText: "Your email address is verified." }).waitFor();
    const token = decodeURIComponent(url.hash.slice("#token=".length));
    expect(requested.filter((address) => address.includes(token))).toEqual([]);
    expect((await me(carol)).email_verified).toBe(true);

    // The same link again (a new tab, as from the mail): spent, said plainly, with a way to get a new one.
    await page.goto("about:blank");
    await page.goto(url.toString());
    await page.getByRole("button", { name: "Verify email address" }).click();
    await page.getByRole("alert").filter({ hasText: "invalid, has expired or was used already" }).waitFor();
    await page.getByRole("button", { name: "Send verification link" }).waitFor();
  });

  it("resets a forgotten password from the sign-in page, and signs in with the new one", async () => {
    const page = await newPage();
    await page.goto(base);
    await page.getByRole("button", { name: "Forgot password?" }).click();
    const forgot = page.getByRole("form", { name: "Forgot password?" });
    await forgot.getByLabel("Account email").fill(carol.email);
    await forgot.getByRole("button", { name: "Send reset link" }).click();
    await forgot.getByRole("status").waitFor();
    expect(await seriousAccessibilityViolations(page)).toEqual([]);

    const { url } = linkIn(await waitForMail(mailDir, carol.email, "Reset your Kaira password"));
    expect(url.pathname).toBe("/account/reset-password");
    await page.goto(url.toString());
    // The policy refuses a weak password; the link still works afterwards.
    await page.getByLabel("New password", { exact: true }).fill("password");
    await page.getByRole("button", { name: "Set new password" }).click();
    await page.getByRole("alert").waitFor();
    expect(await seriousAccessibilityViolations(page)).toEqual([]);
    const newPassword = "Orchard-Pass-9753";
    await page.getByLabel("New password", { exact: true }).fill(newPassword);
    await page.getByRole("button", { name: "Set new password" }).click();
    await page.getByRole("status").filter({ hasText: "Your password was changed" }).waitFor();

    await signIn(page, { email: carol.email, password: newPassword });
    await page.getByText("Signed in as").waitFor();
    carol.password = newPassword;
  });

  it("mails a new verification link from the sign-in page", async () => {
    const dave = { email: "dave@example.com", username: "dave", password: "Canyon-Pass-1357" };
    const created = await fetch(`${base}/api/v1/users`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(dave),
    });
    expect(created.status).toBe(201);
    const page = await newPage();
    await page.goto(base);
    await page.getByRole("button", { name: "Resend verification" }).click();
    const resend = page.getByRole("form", { name: "Resend verification" });
    await resend.getByLabel("Account email").fill(dave.email);
    await resend.getByRole("button", { name: "Send verification link" }).click();
    await resend.getByRole("status").waitFor();
    const { url } = linkIn(await waitForMail(mailDir, dave.email, "Confirm your email address"));
    await page.goto(url.toString());
    await page.getByRole("button", { name: "Verify email address" }).click();
    await page.getByRole("status").filter({ hasText: "Your email address is verified." }).waitFor();
    expect((await me(dave)).email_verified).toBe(true);
  });

  it("says so when a link has no token", async () => {
    const page = await newPage();
    await page.goto(`${base}/account/reset-password`);
    await page.getByRole("alert").filter({ hasText: "The link has no token" }).waitFor();
  });
});

async function tokenFor(user: { email: string; password: string }) {
  const res = await fetch(`${base}/api/v1/auth/token`, {
    method: "POST",
    body: new URLSearchParams({ username: user.email, password: user.password }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

/** Turns on two-factor authentication through the API; the secret computes the codes. */
async function enrolMfa(user: { email: string; password: string }): Promise<string> {
  const auth = { authorization: `Bearer ${await tokenFor(user)}`, "content-type": "application/json" };
  const setup = await fetch(`${base}/api/v1/auth/mfa/totp/setup`, {
    method: "POST",
    headers: auth,
    body: JSON.stringify({ current_password: user.password }),
  });
  const { secret } = (await setup.json()) as { secret: string };
  const confirm = await fetch(`${base}/api/v1/auth/mfa/totp/confirm`, {
    method: "POST",
    headers: auth,
    body: JSON.stringify({ code: codeFor(secret) }),
  });
  expect(confirm.status).toBeLessThan(300);
  return secret;
}

describe("sign-in with a provider", () => {
  it("offers a button per provider, and signs a new person in with a verified email", async () => {
    claims = { sub: "erin-at-mock", email: "erin@example.com", email_verified: true };
    const page = await newPage();
    await page.goto(base);
    await page.getByRole("button", { name: "Sign in with Mock" }).waitFor();
    expect(await seriousAccessibilityViolations(page)).toEqual([]);
    await page.getByRole("button", { name: "Sign in with Mock" }).click();
    await page.getByText("Signed in as").waitFor();
    // The one-time code is gone from the address bar, and a reload resumes from the cookie.
    expect(new URL(page.url()).search).toBe("");
    await page.reload();
    await page.getByText("Signed in as").waitFor();
    expect(await page.evaluate("localStorage.length + sessionStorage.length")).toBe(0);
  });

  it("asks a user with two-factor authentication for a code after the provider", async () => {
    const secret = await enrolMfa(carol);
    claims = { sub: "carol-at-mock", email: carol.email, email_verified: true };
    const page = await newPage();
    await page.goto(base);
    await page.getByRole("button", { name: "Sign in with Mock" }).click();
    await page.getByRole("heading", { name: "Two-factor authentication" }).waitFor();
    expect(await seriousAccessibilityViolations(page)).toEqual([]);
    await page.getByLabel("Authentication code").fill(codeFor(secret, 1));
    await page.getByRole("button", { name: "Verify" }).click();
    await page.getByText("Signed in as carol").waitFor();
  });

  it("says why when the provider's sign-in is refused", async () => {
    // An account has this address, but the provider has not verified it.
    claims = { sub: "not-carol", email: carol.email, email_verified: false };
    const page = await newPage();
    await page.goto(base);
    await page.getByRole("button", { name: "Sign in with Mock" }).click();
    await page.getByRole("alert").filter({ hasText: "the provider has not verified it" }).waitFor();
    expect(new URL(page.url()).search).toBe("");
  });
});

async function signUp(user: { email: string; username: string; password: string }) {
  const created = await fetch(`${base}/api/v1/users`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(user),
  });
  expect(created.status).toBe(201);
}

describe("two-factor authentication and sessions", () => {
  const frank = { email: "frank@example.com", username: "frank", password: "Harvest-Pass-2468" };
  const gina = { email: "gina@example.com", username: "gina", password: "Lantern-Pass-3579" };

  it("asks for the code after the password", async () => {
    await signUp(frank);
    const secret = await enrolMfa(frank);
    const page = await newPage();
    await signIn(page, frank);
    await page.getByRole("heading", { name: "Two-factor authentication" }).waitFor();
    // A wrong code is refused and the step stays.
    await page.getByLabel("Authentication code").fill("000000");
    await page.getByRole("button", { name: "Verify" }).click();
    await page.getByRole("alert").waitFor();
    await page.getByLabel("Authentication code").fill(codeFor(secret, 1));
    await page.getByRole("button", { name: "Verify" }).click();
    await page.getByText("Signed in as frank").waitFor();
  });

  it("lists the sessions, and Revoke ends the other one", async () => {
    await signUp(gina);
    const laptop = await newPage();
    await signIn(laptop, gina);
    await laptop.getByText("Signed in as gina").waitFor();
    const phone = await newPage();
    await signIn(phone, gina);
    await phone.getByText("Signed in as gina").waitFor();
    const sessions = phone.getByRole("list", { name: "Sessions" });
    await expect.poll(() => sessions.getByRole("listitem").count()).toBe(2);
    await sessions.getByText("(this one)").waitFor();
    await sessions.getByRole("button", { name: "Revoke" }).click();
    await expect.poll(() => sessions.getByRole("listitem").count()).toBe(1);
    expect(await sessions.getByRole("button", { name: "Revoke" }).count()).toBe(0);
    // The other browser's session is over: signed out at once or, at the latest, on its next load.
    await laptop.reload();
    await laptop.getByRole("button", { name: "Sign in", exact: true }).waitFor();
    // The revoking one goes on.
    await phone.reload();
    await phone.getByText("Signed in as gina").waitFor();
  });

  it("the console's Reset MFA turns a user's second factor off", async () => {
    const admin = await newPage();
    await admin.goto(`${base}/admin`);
    const form = admin.getByRole("form", { name: "Sign in" });
    await form.getByLabel("Email or username", { exact: true }).fill(ADMIN.email);
    await form.getByLabel("Password", { exact: true }).fill(ADMIN.password);
    await form.getByRole("button", { name: "Sign in", exact: true }).click();
    await admin.getByRole("heading", { name: "Users", exact: true }).waitFor();
    await admin.getByLabel("Search users").fill("frank");
    const row = admin.getByRole("row").filter({ hasText: frank.email });
    await row.getByRole("button", { name: "Reset MFA" }).click();
    // frank signs in with the password alone now.
    await expect
      .poll(async () => {
        const res = await fetch(`${base}/api/v1/auth/token`, {
          method: "POST",
          body: new URLSearchParams({ username: frank.email, password: frank.password }),
        });
        return res.status;
      })
      .toBe(200);
    expect(await row.getByRole("alert").count()).toBe(0);
    const page = await newPage();
    await signIn(page, frank);
    await page.getByText("Signed in as frank").waitFor();
  });
});

describe("every page here", () => {
  it("had no CSP violation or script error", () => {
    expect(faults.flatMap((check) => check())).toEqual([]);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KairaProcess, startServer, stopEmbeddedServer } from "../helpers/process.js";
import { createTestDatabase, onPostgres, type TestDatabase } from "../helpers/test-database.js";
import { launchChromium, seriousAccessibilityViolations, watchForFaults } from "./browser.js";

// The web app and the admin console in a real Chromium against real `kaira serve` processes.
// On PostgreSQL + Redis two instances run, and the second user's page talks to the second one,
// so live updates must cross instances.
const ADMIN = { email: "browser-admin@example.com", password: "Console-Key-7731" };
const dataDir = mkdtempSync(join(tmpdir(), "kaira-browser-"));
// A file where the backup directory should be: backups fail until it is removed.
const backupDir = join(dataDir, "backups-blocked");
let testDb: TestDatabase | undefined;
let servers: (KairaProcess & { baseUrl: string })[] = [];
let browser: Browser;
const afterChecks: (() => string[])[] = [];
let first: string;
let second: string;
const contexts: BrowserContext[] = [];

const alice = { email: "alice@example.com", username: "alice", password: "Sunrise-Pass-2468" };
const bob = { email: "bob@example.com", username: "bob", password: "Tide-Pass-13579" };

beforeAll(async () => {
  writeFileSync(backupDir, "not a directory");
  const common = {
    RATE_LIMIT_PER_MINUTE: "0",
    SIGNUP_PER_HOUR: "0",
    LOG_LEVEL: "warn",
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
    JOB_ATTEMPTS: "1",
    BACKUP_DIR: backupDir,
  };
  const distributed = onPostgres() && process.env.REDIS_URL !== undefined;
  if (onPostgres()) {
    testDb = await createTestDatabase();
    const env = { ...common, DATABASE_URL: testDb.url as string, DATA_DIR: dataDir };
    // Jobs run in the API processes here (no kaira worker in this test).
    const extra: Record<string, string> = distributed ? { JOBS_IN_PROCESS: "true" } : {};
    servers.push(await startServer({ ...env, ...extra }));
    if (distributed) servers.push(await startServer({ ...env, ...extra }));
  } else {
    servers.push(await startServer({ ...common, DATA_DIR: dataDir }));
  }
  first = servers[0]?.baseUrl as string;
  second = servers.at(-1)?.baseUrl as string;
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  for (const server of servers) {
    server.child.kill("SIGTERM");
    await server.exited;
  }
  servers = [];
  await testDb?.drop();
  if (!onPostgres()) await stopEmbeddedServer(dataDir);
  rmSync(dataDir, { recursive: true, force: true });
});

/** With SCREENSHOTS_DIR set (`SCREENSHOTS_DIR=docs/screenshots npm run test:browser`), the README's pictures. */
async function screenshot(page: Page, name: string) {
  const dir = process.env.SCREENSHOTS_DIR;
  if (dir) await page.screenshot({ path: join(dir, `${name}.png`) });
}

async function newPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  contexts.push(context);
  const page = await context.newPage();
  // Checked at the end of the file: CSP violations and script errors of every page.
  const pageFaults = watchForFaults(page);
  afterChecks.push(() => pageFaults);
  return page;
}

async function signIn(page: Page, base: string, user: { email: string; password: string }) {
  await page.goto(base);
  await page.getByLabel("Email or username", { exact: true }).fill(user.email);
  await page.getByLabel("Password", { exact: true }).first().fill(user.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("Signed in as").waitFor();
}

const balanceOf = (page: Page) => page.getByTestId("balance");

/** An admin token for setting the scene through the API (minting credits). */
async function adminToken(): Promise<string> {
  const res = await fetch(`${first}/api/v1/auth/token`, {
    method: "POST",
    body: new URLSearchParams({ username: ADMIN.email, password: ADMIN.password }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

let alicePage: Page;
let bobPage: Page;
let adminPage: Page;
const title = `Harbour at dawn ${Date.now().toString(36)}`;

describe("the web app", () => {
  it("signs up, signs in, publishes a post with an image and shows its thumbnail", async () => {
    alicePage = await newPage();
    await alicePage.goto(first);
    const signUp = alicePage.getByRole("form", { name: "Create an account" });
    await signUp.getByLabel("Email").fill(alice.email);
    await signUp.getByLabel("Username").fill(alice.username);
    await signUp.getByLabel("Password").fill(alice.password);
    await signUp.getByRole("button", { name: "Create account" }).click();
    await alicePage.getByText("Account created for alice").waitFor();
    await signIn(alicePage, first, alice);
    // The access token lives in memory only.
    expect(await alicePage.evaluate("localStorage.length + sessionStorage.length")).toBe(0);

    const image = join(dataDir, "harbour.png");
    writeFileSync(
      image,
      await sharp({ create: { width: 640, height: 400, channels: 3, background: "#2a6f97" } })
        .png()
        .toBuffer(),
    );
    await alicePage.getByLabel("Title").fill(title);
    await alicePage.getByLabel("Content").fill("Boats leaving the harbour before sunrise.");
    await alicePage.getByLabel("Attachment").setInputFiles(image);

    // Bob's page is open (on the second instance when there are two) before Alice publishes.
    bobPage = await newPage();
    const created = await fetch(`${first}/api/v1/users`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(bob),
    });
    expect(created.status).toBe(201);
    await signIn(bobPage, second, bob);

    await alicePage.getByRole("button", { name: "Publish" }).click();
    const post = alicePage.getByRole("list", { name: "Posts" }).getByRole("article", { name: title });
    await post.waitFor();
    const thumbnail = post.getByRole("img", { name: "Thumbnail of harbour.png" });
    await expect
      .poll(
        () => thumbnail.evaluate((img) => (img as { complete: boolean; naturalWidth: number }).naturalWidth),
        {
          timeout: 15_000,
        },
      )
      .toBeGreaterThan(0);
    // The thumbnail job made it: at most 320 pixels wide.
    expect(
      await thumbnail.evaluate((img) => (img as { naturalWidth: number }).naturalWidth),
    ).toBeLessThanOrEqual(320);
  });

  it("shows the post to another signed-in reader live, without a reload", async () => {
    await bobPage
      .getByRole("list", { name: "Posts" })
      .getByRole("article", { name: title })
      .waitFor({ timeout: 10_000 });
  });

  it("finds the post by search, with suggestions while typing and highlighted words", async () => {
    const search = bobPage.getByRole("searchbox", { name: "Search" });
    await search.fill("harbo");
    await expect
      .poll(() => bobPage.getByRole("list", { name: "Suggestions" }).getByRole("button").allTextContents())
      .toContain(title);
    await search.fill("harbour sunrise");
    await search.press("Enter");
    const results = bobPage.getByRole("list", { name: "Search results" });
    await results.getByText(title).first().waitFor();
    expect(await results.locator("mark").first().textContent()).toMatch(/harbour|sunrise/i);
  });

  it("moves credits between the two users and updates both balances live", async () => {
    const token = await adminToken();
    const idOf = async (name: string) => {
      const res = await fetch(`${first}/api/v1/users?q=${name}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      return ((await res.json()) as { items: { id: number }[] }).items[0]?.id;
    };
    const bobId = await idOf("bob");
    const aliceId = await idOf("alice");
    await fetch(`${first}/api/v1/admin/credits`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ user_id: aliceId, amount: 100, memo: "welcome" }),
    });
    await alicePage.reload();
    await alicePage.getByText("Signed in as").waitFor();
    await expect.poll(() => balanceOf(alicePage).textContent()).toBe("100");

    await alicePage.getByLabel("Recipient user ID").fill(String(bobId));
    await alicePage.getByLabel("Amount").fill("25");
    await alicePage.getByLabel("Memo").fill("coffee");
    await alicePage.getByRole("button", { name: "Send credits" }).click();
    await alicePage.getByText(`Sent 25 credits to user #${bobId}`).waitFor();
    await expect.poll(() => balanceOf(alicePage).textContent()).toBe("75");
    // Bob's page hears transfer.received.
    await expect.poll(() => balanceOf(bobPage).textContent(), { timeout: 10_000 }).toBe("25");
    await bobPage.getByText(`Received 25 credits from user #${aliceId}`).waitFor();
    await screenshot(alicePage, "web-app");
  });

  it("signs in with the keyboard alone", async () => {
    const page = await newPage();
    await page.goto(first);
    await page.getByLabel("Email or username", { exact: true }).waitFor();
    // From the top of the page, Tab until the sign-in form's Email field has focus.
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press("Tab");
      if ((await page.evaluate("document.activeElement?.id")) === "f-login") break;
    }
    expect(await page.evaluate("document.activeElement?.id")).toBe("f-login");
    await page.keyboard.type(alice.email);
    await page.keyboard.press("Tab");
    await page.keyboard.type(alice.password);
    await page.keyboard.press("Tab");
    expect(await page.evaluate("document.activeElement?.textContent")).toBe("Sign in");
    await page.keyboard.press("Enter");
    await page.getByText("Signed in as").waitFor();
  });
});

describe("the admin console", () => {
  it("deactivates a user, whose open page is signed out within seconds", async () => {
    adminPage = await newPage();
    await adminPage.goto(`${first}/admin`);
    await adminPage.getByLabel("Email or username").fill(ADMIN.email);
    await adminPage.getByLabel("Password").fill(ADMIN.password);
    await adminPage.getByRole("button", { name: "Sign in" }).click();
    for (const heading of ["Users", "Posts", "Jobs", "Backups"]) {
      await adminPage.getByRole("heading", { name: heading, exact: true }).waitFor();
    }
    await adminPage.getByRole("row").filter({ hasText: alice.email }).waitFor();
    await adminPage.getByText("requests per minute").waitFor();
    await screenshot(adminPage, "admin-console");
    await adminPage.getByLabel("Search users").fill("bob");
    const row = adminPage.getByRole("row").filter({ hasText: bob.email });
    await row.getByRole("button", { name: "Deactivate" }).click();
    await row.getByRole("button", { name: "Activate" }).waitFor();
    const started = Date.now();
    await bobPage.getByRole("button", { name: "Sign in" }).waitFor({ timeout: 10_000 });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("retries a failed job from the console", async () => {
    // The backup fails while BACKUP_DIR is a file, with one attempt (JOB_ATTEMPTS=1).
    await adminPage.getByRole("button", { name: "Start backup" }).click();
    await adminPage.getByRole("status").filter({ hasText: "started" }).waitFor();
    const jobs = adminPage.getByRole("region", { name: "Jobs" });
    await expect
      .poll(
        async () => {
          await jobs.getByRole("button", { name: "Refresh jobs" }).click();
          return jobs.getByRole("row").filter({ hasText: "backup.create" }).count();
        },
        { timeout: 20_000 },
      )
      .toBe(1);
    rmSync(backupDir);
    await jobs
      .getByRole("row")
      .filter({ hasText: "backup.create" })
      .getByRole("button", { name: "Retry" })
      .click();
    const backups = adminPage.getByRole("region", { name: "Backups" });
    await expect
      .poll(
        async () => {
          await backups.getByRole("button", { name: "Refresh backups" }).click();
          return backups.getByRole("button", { name: /^Download / }).count();
        },
        { timeout: 30_000 },
      )
      .toBe(1);
    // The download goes through the API with the access token, then to the browser as a file.
    const [download] = await Promise.all([
      adminPage.waitForEvent("download"),
      backups.getByRole("button", { name: /^Download / }).click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/^kaira-/);
    await jobs.getByRole("button", { name: "Refresh jobs" }).click();
    await jobs.getByText("No failed jobs.").waitFor();
  });

  it("shows the security events, filterable by name", async () => {
    const events = adminPage.getByRole("region", { name: "Security events" });
    await events.getByLabel("Event name").fill("user.deactivated");
    // Security events reach the table in batches, up to a second after the deactivation above:
    // filter again until the stored event is listed, as an administrator would.
    await expect
      .poll(
        async () => {
          await events.getByRole("button", { name: "Filter events" }).click();
          return events.getByRole("cell", { name: "user.deactivated" }).count();
        },
        { timeout: 20_000 },
      )
      .toBeGreaterThan(0);
    // Filtering again with the same values fetches again: a failed sign-in made after the
    // list was shown appears on the next "Filter events", without changing the filter.
    await events.getByLabel("Event name").fill("auth.login.failed");
    await events.getByRole("button", { name: "Filter events" }).click();
    // The new filter's list has replaced the old one once no deactivation is listed.
    await expect.poll(() => events.getByRole("cell", { name: "user.deactivated" }).count()).toBe(0);
    const failedCells = events.getByRole("cell", { name: "auth.login.failed" });
    const before = await failedCells.count();
    expect(before).toBeLessThan(20); // one page of the list, so one more would show
    const refused = await fetch(`${first}/api/v1/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ username: ADMIN.email, password: "not-the-password" }),
    });
    expect(refused.status).toBe(401);
    await expect
      .poll(
        async () => {
          await events.getByRole("button", { name: "Filter events" }).click();
          return failedCells.count();
        },
        { timeout: 20_000 },
      )
      .toBe(before + 1);
    await events.scrollIntoViewIfNeeded();
    await screenshot(adminPage, "security-events");
  });
});

describe("every page", () => {
  it("has no serious or critical accessibility violations, and no CSP or script errors", async () => {
    const signedOut = await newPage();
    await signedOut.goto(first);
    await signedOut.getByRole("button", { name: "Sign in" }).waitFor();
    await screenshot(signedOut, "sign-in");
    const adminSignedOut = await newPage();
    await adminSignedOut.goto(`${first}/admin`);
    await adminSignedOut.getByRole("button", { name: "Sign in" }).waitFor();
    for (const [name, page] of [
      ["web app, signed out", signedOut],
      ["web app, signed in", alicePage],
      ["admin console, signed out", adminSignedOut],
      ["admin console", adminPage],
    ] as const) {
      expect(await seriousAccessibilityViolations(page), name).toEqual([]);
    }
    expect(afterChecks.flatMap((check) => check())).toEqual([]);
  });
});

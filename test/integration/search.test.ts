import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, type Session, signUpAndLogin } from "../helpers/auth.js";
import { insertPosts, insertUsers } from "../helpers/fixtures.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

interface Hit {
  id: number;
  title: string;
  content: string;
  tags: string[];
  author: { id: number; username: string };
  created_at: string;
  highlight: string;
  rank: number;
}

let t: TestApp;
let alice: Session;
let bob: Session;

beforeAll(async () => {
  // These tests are about results, not limits (search-isolation.test.ts covers those): a
  // search slowed down by a busy machine must not turn into a 503 here.
  t = await createTestApp({ SEARCH_TIMEOUT_MS: "60000", SEARCH_CONCURRENCY_PER_CLIENT: "100" });
  alice = await signUpAndLogin(t.app);
  bob = await signUpAndLogin(t.app);
});
afterAll(() => t.close());

async function writePost(
  session: Session,
  post: { title: string; content: string; tags?: string[] },
): Promise<number> {
  const res = await t.app.inject({
    method: "POST",
    url: "/api/v1/posts",
    headers: bearer(session.access),
    payload: post,
  });
  expect(res.statusCode).toBe(201);
  return res.json().id;
}

async function search(query: Record<string, string | number>) {
  const params = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]));
  return t.app.inject({ url: `/api/v1/search/posts?${params}` });
}

async function searchIds(q: string, extra: Record<string, string | number> = {}): Promise<number[]> {
  const res = await search({ q, limit: 100, ...extra });
  expect(res.statusCode).toBe(200);
  return res.json().items.map((hit: Hit) => hit.id);
}

async function suggest(q: string, limit?: number) {
  const params = new URLSearchParams({ q, ...(limit ? { limit: String(limit) } : {}) });
  return t.app.inject({ url: `/api/v1/search/suggest?${params}` });
}

describe("GET /api/v1/search/posts", () => {
  it("ranks a title match above a content-only match and returns post fields, rank and highlight", async () => {
    const inContent = await writePost(alice, {
      title: "Weekly field notes",
      content: "On Tuesday a zebra wandered past the camp.",
    });
    const inTitle = await writePost(bob, {
      title: "Zebra migration patterns",
      content: "Notes from the savanna.",
    });
    const res = await search({ q: "zebra" });
    expect(res.statusCode).toBe(200);
    const { items, next_cursor } = res.json();
    expect(items.map((hit: Hit) => hit.id)).toEqual([inTitle, inContent]);
    expect(items[0].rank).toBeGreaterThan(items[1].rank);
    expect(next_cursor).toBeNull();
    expect(Object.keys(items[0]).sort()).toEqual(
      [
        "attachments",
        "author",
        "content",
        "created_at",
        "highlight",
        "id",
        "rank",
        "tags",
        "title",
        "updated_at",
      ].sort(),
    );
    expect(items[0].author).toEqual({ id: bob.id, username: bob.username });
    // The post fields are exactly those of GET /posts/{id}.
    const post = (await t.app.inject({ url: `/api/v1/posts/${inTitle}` })).json();
    const { highlight: _h, rank: _r, ...postFields } = items[0];
    expect(postFields).toEqual(post);
  });

  it("stems words: a search for one form finds the others", async () => {
    const id = await writePost(alice, { title: "Deploying gateways", content: "We deployed three." });
    expect(await searchIds("deploy gateway")).toContain(id);
  });

  it("matches a quoted phrase only with its words adjacent and in order", async () => {
    const phrase = await writePost(alice, { title: "Quokka harbour tours", content: "Boats leave at nine." });
    const scattered = await writePost(alice, {
      title: "Harbour report",
      content: "The quokka was seen near the harbour.",
    });
    const ids = await searchIds('"quokka harbour"');
    expect(ids).toContain(phrase);
    expect(ids).not.toContain(scattered);
    expect(await searchIds("quokka harbour")).toEqual(expect.arrayContaining([phrase, scattered]));
  });

  it("excludes posts with a -word", async () => {
    const mountains = await writePost(alice, {
      title: "Falcon sightings",
      content: "High in the mountains.",
    });
    const desert = await writePost(alice, { title: "Falcon sightings", content: "Out in the desert." });
    const ids = await searchIds("falcon -desert");
    expect(ids).toContain(mountains);
    expect(ids).not.toContain(desert);
  });

  it("finds either word with `or`, and only posts with both without it", async () => {
    const marmot = await writePost(alice, { title: "Marmot burrows", content: "Alpine meadows." });
    const narwhal = await writePost(alice, { title: "Narwhal tusks", content: "Arctic waters." });
    expect((await searchIds("marmot or narwhal")).sort()).toEqual([marmot, narwhal].sort());
    expect(await searchIds("marmot narwhal")).toEqual([]);
  });

  it("finds a post by its tags, below posts that mention the word", async () => {
    const tagged = await writePost(alice, {
      title: "Release day",
      content: "All went well.",
      tags: ["Vortex"],
    });
    const mentioned = await writePost(alice, { title: "Vortex engine", content: "Spins fast." });
    expect(await searchIds("vortex")).toEqual([mentioned, tagged]);
  });

  it("highlights matches in escaped HTML whose only markup is <mark>", async () => {
    const id = await writePost(alice, {
      title: 'Pelican <b>bold</b> & "quoted"',
      content:
        "Intro text. <script>alert('pelican')</script> and <img src=x onerror=alert(1)> " +
        "then more words about a pelican \u0002 with stray \u0003 control characters.",
    });
    const [hit] = (await search({ q: "pelican" })).json().items as Hit[];
    expect(hit?.id).toBe(id);
    const html = hit?.highlight ?? "";
    expect(html).toContain("<mark>Pelican</mark>");
    expect(html).toContain("&lt;script&gt;alert(&#39;<mark>pelican</mark>&#39;)&lt;/script&gt;");
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;");
    expect(html).toContain("&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;");
    // Remove the marks: no other tag, no raw control character remains.
    const withoutMarks = html.replaceAll("<mark>", "").replaceAll("</mark>", "");
    for (const unwanted of ["<", ">", "\u0002", "\u0003"]) expect(withoutMarks).not.toContain(unwanted);
    expect(html.split("<mark>").length).toBe(html.split("</mark>").length);
    // The post itself comes back as written.
    expect(hit?.content).toContain("<script>alert('pelican')</script>");
  });

  it("highlights from the opening of a long post when its match lies past 10,000 characters", async () => {
    const opening = "Opening words of a very long essay";
    const id = await writePost(alice, {
      title: "Long essay",
      content: `${opening} ${"lorem ipsum dolor sit amet ".repeat(600)} quetzal`,
    });
    const [hit] = (await search({ q: "quetzal" })).json().items as Hit[];
    expect(hit?.id).toBe(id);
    expect(hit?.highlight).toContain(opening);
    expect(hit?.highlight).not.toContain("<mark>");
  });

  it("keeps highlights short for long posts: at most three fragments", async () => {
    const filler = "lorem ipsum dolor sit amet ".repeat(200);
    await writePost(alice, {
      title: "Long read",
      content: `${filler} axolotl ${filler} axolotl ${filler} axolotl ${filler} axolotl ${filler}`,
    });
    const [hit] = (await search({ q: "axolotl" })).json().items as Hit[];
    const html = hit?.highlight ?? "";
    expect(html.length).toBeLessThan(1_000);
    expect(html.split(" … ").length).toBeLessThanOrEqual(3);
    expect(html).toContain("<mark>axolotl</mark>");
  });

  it("filters by author and by tag", async () => {
    const byAlice = await writePost(alice, { title: "Heron photos", content: "x", tags: ["birds"] });
    const byBob = await writePost(bob, { title: "Heron nests", content: "y", tags: ["Nature"] });
    expect(await searchIds("heron", { author_id: alice.id })).toEqual([byAlice]);
    expect(await searchIds("heron", { author_id: bob.id })).toEqual([byBob]);
    expect(await searchIds("heron", { tag: "NATURE" })).toEqual([byBob]);
    expect(await searchIds("heron", { tag: "birds", author_id: bob.id })).toEqual([]);
  });

  it("walks ranked pages without gaps or repeats, in a stable order", async () => {
    const [author] = await insertUsers(t.db.database, 1);
    const base = Date.parse("2026-02-01T00:00:00.000Z");
    // Four title lengths give four ranks; three posts share each created_at, so ties in
    // (rank, created_at) must be broken by id.
    const inserted = await insertPosts(
      t.db.database,
      Array.from({ length: 31 }, (_, i) => ({
        authorId: author?.id as number,
        createdAt: new Date(base + Math.floor(i / 3) * 1000),
        title: `pangolin ${"facts ".repeat(i % 4)}`.trim(),
      })),
    );
    const allIds = inserted.map((post) => post.id);
    const whole = (await search({ q: "pangolin", limit: 100 })).json().items as Hit[];
    expect(whole.map((hit) => hit.id).sort((a, b) => a - b)).toEqual([...allIds].sort((a, b) => a - b));
    expect(new Set(whole.map((hit) => hit.rank)).size).toBe(4);
    for (let i = 1; i < whole.length; i++) {
      const prev = whole[i - 1] as Hit;
      const cur = whole[i] as Hit;
      const order =
        prev.rank - cur.rank || Date.parse(prev.created_at) - Date.parse(cur.created_at) || prev.id - cur.id;
      expect(order).toBeGreaterThan(0);
    }

    for (const limit of [1, 4, 7, 31]) {
      const seen: number[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await search({ q: "pangolin", limit, ...(cursor ? { cursor } : {}) });
        expect(res.statusCode).toBe(200);
        const page = res.json();
        expect(page.items.length).toBeLessThanOrEqual(limit);
        seen.push(...page.items.map((hit: Hit) => hit.id));
        cursor = page.next_cursor;
        pages += 1;
      } while (cursor && pages < 100);
      expect(seen).toEqual(whole.map((hit) => hit.id));
    }
  });

  it("sees edits at once: after a PATCH the old word no longer matches and the new one does", async () => {
    const id = await writePost(alice, {
      title: "Ocelot spotted",
      content: "Near the river.",
      tags: ["cats"],
    });
    expect(await searchIds("ocelot")).toEqual([id]);
    const patched = await t.app.inject({
      method: "PATCH",
      url: `/api/v1/posts/${id}`,
      headers: bearer(alice.access),
      payload: { title: "Lynx spotted", tags: ["wildcats"] },
    });
    expect(patched.statusCode).toBe(200);
    expect(await searchIds("ocelot")).toEqual([]);
    expect(await searchIds("lynx")).toEqual([id]);
    expect(await searchIds("wildcats")).toEqual([id]);
    expect(await searchIds("cats")).not.toContain(id);

    const deleted = await t.app.inject({
      method: "DELETE",
      url: `/api/v1/posts/${id}`,
      headers: bearer(alice.access),
    });
    expect(deleted.statusCode).toBe(204);
    expect(await searchIds("lynx")).toEqual([]);
  });

  it.each([
    ["only stop words", "the and of"],
    ["only punctuation", "!!! ... ,,, ---"],
    ["only exclusions", "-zebra -falcon"],
    ["an empty phrase", '""'],
    ["blanks", "   "],
  ])("finds nothing for %s", async (_what, q) => {
    const res = await search({ q });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ items: [], next_cursor: null });
  });

  it.each([
    '"',
    "'",
    "\\",
    "\\\\'",
    ":*",
    "zebra:*",
    "zeb:*",
    "&|!()",
    "zebra & falcon | !marmot",
    "(zebra",
    "zebra <-> falcon",
    "zebra <2> falcon",
    '"unclosed phrase zebra',
    "zebra\u0001\u0002",
    "%_%",
    "🦓 zebra 🦓",
    "a".repeat(200),
    `${"zebra or ".repeat(21)}zebra`,
    `${"-".repeat(32)}zebra`,
    `${"- (".repeat(16)}zebra`,
    "\uD800 lone surrogate",
  ])("answers the hostile query %j with 200", async (q) => {
    const res = await search({ q });
    expect(res.statusCode).toBe(200);
    expect(res.json().items).toBeInstanceOf(Array);
  });

  it("refuses more '-' than the query parser can stack with 422 naming q", async () => {
    for (const q of [`${"-".repeat(33)}zebra`, `${"- (".repeat(40)}zebra`, "a-".repeat(40)]) {
      const res = await search({ q });
      expect(res.statusCode).toBe(422);
      expect(res.json().errors[0]).toMatchObject({
        loc: ["query", "q"],
        type: "value_error.too_many_exclusions",
      });
    }
  });

  it("answers any text with 200 or 422, never a server error", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: "binary", minLength: 1, maxLength: 60 }), async (q) => {
        const res = await search({ q });
        expect([200, 422]).toContain(res.statusCode);
      }),
      { numRuns: 60 },
    );
  });

  it("answers any mix of search operators with 200 or 422, never a server error", async () => {
    const token = fc.constantFrom(
      "-",
      '"',
      " ",
      "or",
      "OR",
      "zebra",
      "the",
      "(",
      ")",
      ":*",
      "!",
      "&",
      "|",
      "\\",
      "'",
      "<->",
      "*",
    );
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: token, minLength: 1, maxLength: 80 }), async (q) => {
        const res = await search({ q });
        expect([200, 422]).toContain(res.statusCode);
      }),
      { numRuns: 100 },
    );
  });

  it.each([
    ["q is missing", "", ["query", "q"]],
    ["q holds a NUL byte", `q=${encodeURIComponent("zebra\u0000")}`, ["query", "q"]],
    ["q is longer than 200", `q=${"a".repeat(201)}`, ["query", "q"]],
    ["q is empty", "q=", ["query", "q"]],
    ["limit is 0", "q=zebra&limit=0", ["query", "limit"]],
    ["limit is 101", "q=zebra&limit=101", ["query", "limit"]],
    ["author_id is not a number", "q=zebra&author_id=x", ["query", "author_id"]],
    ["the cursor is garbage", "q=zebra&cursor=not-a-cursor", ["query", "cursor"]],
    [
      "the cursor has a posts-list shape",
      `q=zebra&cursor=${Buffer.from('["2026-01-01T00:00:00.000Z",4]').toString("base64url")}`,
      ["query", "cursor"],
    ],
    [
      "the cursor has a negative rank",
      `q=zebra&cursor=${Buffer.from('[-1,"2026-01-01T00:00:00.000Z",4]').toString("base64url")}`,
      ["query", "cursor"],
    ],
  ])("answers 422 naming the parameter when %s", async (_what, query, loc) => {
    const res = await t.app.inject({ url: `/api/v1/search/posts?${query}` });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0].loc).toEqual(loc);
  });

  it("reads a page of hits with their authors in one SQL statement", async () => {
    const statements: string[] = [];
    const stop = t.db.database.onQuery((q) => {
      // Background relays aside, and the transaction that scopes the search's statement
      // timeout (PostgreSQL): one statement does the work.
      if (
        !/outbox|"jobs"|pg_advisory|^(begin|commit|rollback)$|set_config\('(statement_timeout|max_parallel_workers_per_gather)'/i.test(
          q.sql,
        )
      )
        statements.push(q.sql);
    });
    const res = await search({ q: "zebra or heron or pangolin", limit: 20 });
    stop();
    expect(res.statusCode).toBe(200);
    expect(res.json().items.length).toBeGreaterThan(2);
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatch(/join "users"/i);
  });
});

describe("the OpenAPI document", () => {
  it("lists both search routes under the search tag and documents the highlight markup", async () => {
    const doc = (await t.app.inject({ url: "/openapi.json" })).json();
    expect(doc.tags.map((tag: { name: string }) => tag.name)).toContain("search");
    for (const path of ["/api/v1/search/posts", "/api/v1/search/suggest"]) {
      expect(doc.paths[path].get.tags).toEqual(["search"]);
      expect(doc.paths[path].get.responses["422"]).toBeDefined();
      // Overload answers: search_busy / search_timeout / database_busy, and a client's share.
      expect(doc.paths[path].get.responses["503"]).toBeDefined();
      expect(doc.paths[path].get.responses["429"]).toBeDefined();
      expect(doc.paths[path].get.description).toContain("search_timeout");
    }
    const hit = doc.paths["/api/v1/search/posts"].get.responses["200"].content["application/json"].schema;
    expect(JSON.stringify(hit)).toContain("<mark>");
  });
});

describe("GET /api/v1/search/suggest", () => {
  let kubernetes: number;
  let scaling: number;
  let uptime: number;

  beforeAll(async () => {
    kubernetes = await writePost(alice, { title: "Kubernetes at scale", content: "." });
    scaling = await writePost(bob, { title: "Scaling Kubernetes clusters", content: "." });
    uptime = await writePost(bob, { title: "100% uptime_report", content: "." });
    await writePost(bob, { title: "Gardening for beginners", content: "." });
  });

  it("suggests titles that start with the prefix first, then titles with a word that does", async () => {
    const res = await suggest("kubern");
    expect(res.statusCode).toBe(200);
    const { items } = res.json();
    expect(items.map((s: { id: number }) => s.id)).toEqual([kubernetes, scaling]);
    expect(items[0]).toEqual({ id: kubernetes, title: "Kubernetes at scale", score: 1 });
    expect(items[1].score).toBe(0.9);
  });

  it("tolerates a typo", async () => {
    const { items } = (await suggest("kubernets")).json();
    const ids = items.map((s: { id: number }) => s.id);
    expect(ids).toEqual(expect.arrayContaining([kubernetes, scaling]));
    expect(ids).toHaveLength(2);
    for (const item of items) expect(item.score).toBeGreaterThanOrEqual(0.6);
    expect((await suggest("gardenig")).json().items.map((s: { title: string }) => s.title)).toEqual([
      "Gardening for beginners",
    ]);
  });

  it("takes % and _ literally", async () => {
    expect((await suggest("%")).json().items).toEqual([]);
    expect((await suggest("_")).json().items).toEqual([]);
    expect((await suggest("100%")).json().items.map((s: { id: number }) => s.id)).toEqual([uptime]);
    // As wildcards, "1_0%" would be a prefix of "100% uptime_report".
    expect((await suggest("1_0%")).json().items.map((s: { id: number }) => s.id)).not.toContain(uptime);
  });

  it("honours limit and answers nothing for blanks", async () => {
    expect((await suggest("kubern", 1)).json().items).toHaveLength(1);
    expect((await suggest("   ")).json()).toEqual({ items: [] });
    expect((await suggest("zzqxj")).json()).toEqual({ items: [] });
  });

  it.each([
    ["q is missing", "", ["query", "q"]],
    ["q is longer than 100", `q=${"k".repeat(101)}`, ["query", "q"]],
    ["q holds a NUL byte", "q=kub%00", ["query", "q"]],
    ["limit is 21", "q=kub&limit=21", ["query", "limit"]],
    ["limit is 0", "q=kub&limit=0", ["query", "limit"]],
  ])("answers 422 when %s", async (_what, query, loc) => {
    const res = await t.app.inject({ url: `/api/v1/search/suggest?${query}` });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0].loc).toEqual(loc);
  });

  it("answers any text with 200 or 422, never a server error", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: "binary", minLength: 1, maxLength: 40 }), async (q) => {
        const res = await suggest(q);
        expect([200, 422]).toContain(res.statusCode);
      }),
      { numRuns: 60 },
    );
  });
});

describe("typos, word by word", () => {
  let quantum: number;
  let computing: number;

  beforeAll(async () => {
    quantum = await writePost(alice, {
      title: "Quantum entanglement for working programmers",
      content: "Spooky action at a distance, explained with circuits.",
    });
    computing = await writePost(bob, {
      title: "Quantum computing in practice",
      content: "Qubits and gates.",
    });
  });

  // Each word of 5+ letters may have one typo, of 9+ two: inserted, missing, replaced, swapped.
  it.each([
    "quantm entanglment",
    "qunatum entanglemnet",
    "quantum entnaglmeent",
    "entanglment quantm",
    "quantm entangl",
    "quantum entanglement programers",
    "quantm workign",
  ])("suggest finds the title for %s", async (q) => {
    const items = (await suggest(q)).json().items as { id: number; score: number }[];
    expect(items.map((item) => item.id)).toContain(quantum);
    const hit = items.find((item) => item.id === quantum);
    expect(hit?.score).toBeGreaterThanOrEqual(0.6);
    expect(hit?.score).toBeLessThan(0.9);
  });

  it.each([
    "quatnm entanglement", // two typos in a seven-letter word
    "quantum entnaglmeentx", // three in a twelve-letter one
    "quantum teleportation", // a word the title does not have
  ])("suggest does not stretch the rule for %s", async (q) => {
    const ids = (await suggest(q)).json().items.map((item: { id: number }) => item.id);
    expect(ids).not.toContain(quantum);
  });

  it("ranks fewer typos first", async () => {
    const ids = (await suggest("quantum computng")).json().items.map((item: { id: number }) => item.id);
    expect(ids[0]).toBe(computing);
  });

  it("search answers a misspelt query with the corrected one's results and did_you_mean", async () => {
    const res = await search({ q: "quantm entanglment" });
    expect(res.statusCode).toBe(200);
    const page = res.json();
    expect(page.did_you_mean).toBe("quantum entanglement");
    expect(page.items.map((item: { id: number }) => item.id)).toEqual([quantum]);
  });

  it("search keeps exact results as they are, without did_you_mean", async () => {
    const page = (await search({ q: "quantum entanglement" })).json();
    expect(page.did_you_mean).toBeUndefined();
    expect(page.items.map((item: { id: number }) => item.id)).toEqual([quantum]);
    const none = (await search({ q: "zzqxj wqxzv" })).json();
    expect(none).toEqual({ items: [], next_cursor: null });
  });
});

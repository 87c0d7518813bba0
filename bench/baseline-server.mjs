#!/usr/bin/env node
// Baseline for the Kaira benchmark: the routes the benchmarks measure, served by bare `node:http`
// and `pg` with no framework, no validation library, no logging and plain `JSON.stringify`. It is the
// ceiling any Node framework could reach on the same SQL, so Kaira's req/s divided by this one's says how
// much the framework, the ORM and the app's own layers cost. Do not add features here: every line of
// work it skips is work Kaira is measured against.
//
//   PORT=3001 DATABASE_URL=postgres://postgres@127.0.0.1:5432/kaira_bench node bench/baseline-server.mjs
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";
import pg from "pg";

const port = Number(process.env.PORT ?? 3001);
const host = process.env.HOST ?? "127.0.0.1";
const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error("baseline-server: DATABASE_URL is required");
  process.exit(1);
}

const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });

// Named queries: pg prepares each once per connection, then sends only Bind/Execute.
// Attachments come from the same correlated subquery Kaira uses, so both do the same SQL work.
const POST_COLUMNS =
  "p.id, p.title, p.content, p.tags, p.created_at, p.updated_at, u.id as author_id, u.username as author_username, " +
  "coalesce((select json_agg(json_build_object('id', f.id, 'filename', f.filename, 'content_type', f.content_type, 'size', f.size) order by pa.position) " +
  "from post_attachments pa join files f on f.id = pa.file_id where pa.post_id = p.id), '[]'::json) as attachments";
const listPosts = {
  name: "bench_list_posts",
  text: `select ${POST_COLUMNS} from posts p join users u on u.id = p.author_id order by p.created_at desc, p.id desc limit $1`,
};
const getPost = {
  name: "bench_get_post",
  text: `select ${POST_COLUMNS} from posts p join users u on u.id = p.author_id where p.id = $1`,
};
const getUser = {
  name: "bench_get_user",
  text: "select id, username, created_at from users where id = $1",
};

// The write routes (bench/writes.mjs). A post is written the way Kaira must write one: the post
// and its outbox event in one transaction, the author's name from the same statement.
const insertPost = {
  name: "bench_insert_post",
  text:
    "with p as (insert into posts (author_id, title, content, tags) values ($1, $2, $3, $4) " +
    "returning id, title, content, tags, created_at, updated_at, author_id) " +
    "select p.*, u.username as author_username from p join users u on u.id = p.author_id",
};
const insertEvent = {
  name: "bench_insert_event",
  text: "insert into outbox_events (topic, user_id, payload) values ($1, $2, $3)",
};
// What an authenticated request must know about its caller (revocation) and what /users/me shows.
const getAccount = {
  name: "bench_get_account",
  text: "select id, email, username, role, balance, is_active, token_version, created_at from users where id = $1",
};
// A transfer is Kaira's own ledger function (migration 0013): the same SQL, one statement.
const transfer = {
  name: "bench_transfer",
  text: "select status, body from transfer_credits($1, $2, $3, $4, $5, $6, $7, $8)",
};

const MAX_INT4 = 2147483647;

// HS256 access tokens as Kaira issues them, verified with the same checks (algorithm, type,
// issuer, audience, expiry) but by hand with node:crypto: the least any server must do.
const secret = process.env.SECRET_KEY ?? "";
const issuer = process.env.JWT_ISSUER ?? "kaira";
const audience = process.env.JWT_AUDIENCE ?? "kaira-api";
function verifyToken(header) {
  if (!secret || !header?.startsWith("Bearer ")) return null;
  const token = header.slice(7);
  const [h, p, s] = token.split(".");
  if (!h || !p || !s) return null;
  const expected = createHmac("sha256", secret).update(`${h}.${p}`).digest();
  const given = Buffer.from(s, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  const head = JSON.parse(Buffer.from(h, "base64url").toString());
  const claims = JSON.parse(Buffer.from(p, "base64url").toString());
  if (head.alg !== "HS256" || head.typ !== "at+jwt") return null;
  if (claims.iss !== issuer || claims.aud !== audience || !(claims.exp > Date.now() / 1000)) return null;
  return claims;
}

/** The caller's account if the token is valid and not revoked, else null. */
async function authenticate(req) {
  const claims = verifyToken(req.headers.authorization);
  if (!claims) return null;
  const { rows } = await pool.query({ ...getAccount, values: [Number(claims.sub)] });
  const account = rows[0];
  if (!account?.is_active || account.token_version !== claims.ver) return null;
  return { account, claims };
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString()));
      } catch (error) {
        reject(error);
      }
    });
    req.on("error", reject);
  });
}

async function createPost(req, res) {
  const auth = await authenticate(req);
  if (!auth) return send(res, 401, { error: { code: "invalid_token" } });
  const body = await readJson(req);
  if (typeof body.title !== "string" || typeof body.content !== "string")
    return badRequest(res, "title and content are required");
  const tags = [...new Set((body.tags ?? []).map((tag) => String(tag).toLowerCase()))];
  const client = await pool.connect();
  let post;
  try {
    await client.query("begin");
    const { rows } = await client.query({
      ...insertPost,
      values: [auth.account.id, body.title, body.content, tags],
    });
    post = { ...toPost({ ...rows[0], attachments: [] }) };
    await client.query({ ...insertEvent, values: ["post.created", null, JSON.stringify(post)] });
    await client.query("commit");
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
  return send(res, 201, post);
}

async function me(req, res) {
  const auth = await authenticate(req);
  if (!auth) return send(res, 401, { error: { code: "invalid_token" } });
  const { id, email, username, role, balance, created_at } = auth.account;
  return send(res, 200, { id, email, username, role, created_at, balance: Number(balance) });
}

async function createTransfer(req, res) {
  const auth = await authenticate(req);
  if (!auth) return send(res, 401, { error: { code: "invalid_token" } });
  const key = req.headers["idempotency-key"];
  if (!key) return badRequest(res, "Idempotency-Key is required");
  const body = await readJson(req);
  const memo = body.memo ?? null;
  const hash = createHash("sha256")
    .update(JSON.stringify([body.to_user_id, body.amount, memo]))
    .digest("hex");
  const { rows } = await pool.query({
    ...transfer,
    values: [auth.account.id, body.to_user_id, body.amount, memo, key, hash, 86_400_000, null],
  });
  const { status, body: outcome } = rows[0];
  return send(res, status === 201 ? 201 : status, outcome ?? { error: { code: String(status) } });
}

/** Parses a path segment as a positive int4 id, or returns null. */
function parseId(segment) {
  if (!/^[1-9][0-9]{0,9}$/.test(segment)) return null;
  const id = Number(segment);
  return id <= MAX_INT4 ? id : null;
}

// pg returns timestamptz as Date; JSON.stringify turns a Date into its ISO string.
function toPost(row) {
  return {
    id: row.id,
    title: row.title,
    content: row.content,
    tags: row.tags,
    author: { id: row.author_id, username: row.author_username },
    attachments: row.attachments,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** The keyset cursor of the last item on a page: base64url of JSON [created_at ISO, id]. */
function cursorOf(row) {
  return Buffer.from(JSON.stringify([row.created_at.toISOString(), row.id])).toString("base64url");
}

function send(res, status, body) {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(payload),
  });
  res.end(payload);
}

function notFound(res, message) {
  send(res, 404, { error: { code: "not_found", message } });
}

function badRequest(res, message) {
  send(res, 400, { error: { code: "bad_request", message } });
}

async function route(req, res) {
  const q = req.url.indexOf("?");
  const path = q === -1 ? req.url : req.url.slice(0, q);

  if (req.method === "POST" && path === "/api/v1/posts") return createPost(req, res);
  if (req.method === "POST" && path === "/api/v1/transfers") return createTransfer(req, res);
  if (req.method !== "GET") return send(res, 405, { error: { code: "method_not_allowed" } });
  if (path === "/api/v1/users/me") return me(req, res);

  if (path === "/api/v1/posts") {
    const params = new URLSearchParams(q === -1 ? "" : req.url.slice(q + 1));
    const limit = params.has("limit") ? Number(params.get("limit")) : 20;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) return badRequest(res, "limit must be 1..100");
    // One row more than asked tells whether a next page exists without a count query.
    const { rows } = await pool.query({ ...listPosts, values: [limit + 1] });
    const page = rows.length > limit ? rows.slice(0, limit) : rows;
    const nextCursor = rows.length > limit ? cursorOf(page[page.length - 1]) : null;
    return send(res, 200, { items: page.map(toPost), next_cursor: nextCursor });
  }

  if (path.startsWith("/api/v1/posts/")) {
    const id = parseId(path.slice("/api/v1/posts/".length));
    if (id === null) return notFound(res, "post not found");
    const { rows } = await pool.query({ ...getPost, values: [id] });
    return rows.length ? send(res, 200, toPost(rows[0])) : notFound(res, "post not found");
  }

  if (path.startsWith("/api/v1/users/")) {
    const id = parseId(path.slice("/api/v1/users/".length));
    if (id === null) return notFound(res, "user not found");
    const { rows } = await pool.query({ ...getUser, values: [id] });
    if (!rows.length) return notFound(res, "user not found");
    const { username, created_at } = rows[0];
    return send(res, 200, { id, username, created_at });
  }

  // Same readiness probe as Kaira, so the runner waits for both servers the same way.
  if (path === "/health/ready") {
    await pool.query("select 1");
    return send(res, 200, { status: "ok" });
  }

  return notFound(res, "route not found");
}

const server = http.createServer((req, res) => {
  route(req, res).catch((err) => {
    console.error(err);
    if (!res.headersSent) send(res, 500, { error: { code: "internal_error" } });
    else res.destroy();
  });
});

server.listen(port, host, () => {
  console.log(`baseline-server listening on http://${host}:${port}`);
});

// SIGTERM from the runner: stop accepting, let in-flight requests finish, close the pool.
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.once(signal, () => {
    server.close(() => pool.end().finally(() => process.exit(0)));
    server.closeIdleConnections();
    // Keep-alive clients may hold sockets open; do not wait for them forever.
    setTimeout(() => process.exit(0), 3000).unref();
  });
}

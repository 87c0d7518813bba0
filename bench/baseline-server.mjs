#!/usr/bin/env node
// Baseline for the Kaira benchmark: the read routes the benchmark measures, served by bare `node:http`
// and `pg` with no framework, no validation library, no logging and plain `JSON.stringify`. It is the
// ceiling any Node framework could reach on the same SQL, so Kaira's req/s divided by this one's says how
// much the framework, the ORM and the app's own layers cost. Do not add features here: every line of
// work it skips is work Kaira is measured against.
//
//   PORT=3001 DATABASE_URL=postgres://postgres@127.0.0.1:5432/kaira_bench node bench/baseline-server.mjs
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

const MAX_INT4 = 2147483647;

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
  if (req.method !== "GET") return send(res, 405, { error: { code: "method_not_allowed" } });

  const q = req.url.indexOf("?");
  const path = q === -1 ? req.url : req.url.slice(0, q);

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

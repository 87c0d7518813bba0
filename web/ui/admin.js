// The admin console at /admin: overview, users, posts, files, jobs, backups, security events.
// Every number and row comes from the public admin API.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, onSignedOut, query, refresh, signOut } from "./api.js";
import { ErrorText, Field, formatBytes, formatTime, html, SignInForm, useAction } from "./ui.js";

/** A section that loads a page of rows; `reload` after an action. */
function useList(load, deps = []) {
  const [data, setData] = useState(null);
  const [error, setError] = useState("");
  const reload = async () => {
    try {
      setData(await load());
      setError("");
    } catch (failure) {
      setError(failure.message);
    }
  };
  useEffect(() => {
    reload();
  }, deps);
  return { data, error, reload };
}

function Overview() {
  const { data, error, reload } = useList(() => api("/admin/overview"));
  useEffect(() => {
    const timer = setInterval(reload, 10_000);
    return () => clearInterval(timer);
  }, []);
  const n = (value) => (value === null || value === undefined ? "—" : value);
  return html`<section aria-labelledby="overview-title">
    <h2 id="overview-title">Overview</h2>
    <${ErrorText} error=${error} />
    ${
      data
        ? html`<ul class="numbers">
      <li><strong>${data.users}</strong> users</li>
      <li><strong>${data.posts}</strong> posts</li>
      <li><strong>${data.files}</strong> files</li>
      <li><strong>${n(data.jobs.waiting)}</strong> jobs waiting</li>
      <li><strong>${n(data.jobs.failed)}</strong> jobs failed</li>
      <li><strong>${data.open_websockets}</strong> open WebSockets</li>
      <li><strong>${data.requests_last_minute}</strong> requests per minute</li>
    </ul>`
        : null
    }
  </section>`;
}

function UserRow({ user, me, reload }) {
  const act = useAction(async (request) => {
    await request();
    await reload();
  });
  const patch = (json) => () => api(`/users/${user.id}`, { method: "PATCH", json });
  return html`<tr>
    <td>${user.id}</td><td>${user.username}</td><td>${user.email}</td><td>${user.role}</td>
    <td>${user.is_active ? "active" : "deactivated"}</td><td>${user.balance}</td>
    <td>
      ${
        user.is_active
          ? html`<button type="button" onClick=${() => act.run(patch({ is_active: false }))} disabled=${user.id === me.id}>Deactivate</button>`
          : html`<button type="button" onClick=${() => act.run(patch({ is_active: true }))}>Activate</button>`
      }
      ${
        user.role === "admin"
          ? html`<button type="button" onClick=${() => act.run(patch({ role: "user" }))} disabled=${user.id === me.id}>Make user</button>`
          : html`<button type="button" onClick=${() => act.run(patch({ role: "admin" }))}>Make admin</button>`
      }
      <button type="button" onClick=${() => act.run(() => api(`/users/${user.id}/sessions`, { method: "DELETE" }))}>Revoke sessions</button>
      <button type="button" onClick=${() => act.run(() => api(`/admin/users/${user.id}/mfa`, { method: "DELETE" }))}>Reset MFA</button>
      <${ErrorText} error=${act.error} />
    </td>
  </tr>`;
}

function Users({ me }) {
  const [q, setQ] = useState("");
  const [cursor, setCursor] = useState(undefined);
  const { data, error, reload } = useList(
    () => api(`/users${query({ limit: 20, q: q.trim(), cursor })}`),
    [q, cursor],
  );
  return html`<section aria-labelledby="users-title">
    <h2 id="users-title">Users</h2>
    <p class="field"><label for="user-search">Search users</label>
      <input id="user-search" type="search" value=${q} onInput=${(e) => {
        setCursor(undefined);
        setQ(e.currentTarget.value);
      }} placeholder="Part of an email or username" /></p>
    <${ErrorText} error=${error} />
    <table>
      <thead><tr><th>ID</th><th>Username</th><th>Email</th><th>Role</th><th>State</th><th>Balance</th><th>Actions</th></tr></thead>
      <tbody>${data?.items.map((user) => html`<${UserRow} key=${user.id} user=${user} me=${me} reload=${reload} />`)}</tbody>
    </table>
    ${cursor ? html`<button type="button" onClick=${() => setCursor(undefined)}>First page</button>` : null}
    ${data?.next_cursor ? html`<button type="button" onClick=${() => setCursor(data.next_cursor)}>Next users</button>` : null}
  </section>`;
}

function PostRow({ post, reload }) {
  const [reason, setReason] = useState("");
  const remove = useAction(async () => {
    await api(`/posts/${post.id}${query({ reason: reason.trim() })}`, { method: "DELETE" });
    await reload();
  });
  return html`<tr>
    <td>${post.id}</td><td>${post.title}</td><td>${post.author.username}</td><td>${formatTime(post.created_at)}</td>
    <td><form class="inline" onSubmit=${(e) => {
      e.preventDefault();
      remove.run();
    }}>
      <${Field} label=${`Reason for removing post ${post.id}`} name=${`reason-${post.id}`} value=${reason} onInput=${setReason} required maxlength="500" />
      <button type="submit" disabled=${remove.busy}>Delete post</button>
    </form><${ErrorText} error=${remove.error} /></td>
  </tr>`;
}

function Posts() {
  const [cursor, setCursor] = useState(undefined);
  const { data, error, reload } = useList(() => api(`/posts${query({ limit: 10, cursor })}`), [cursor]);
  return html`<section aria-labelledby="posts-title">
    <h2 id="posts-title">Posts</h2>
    <p class="meta">Removing another user's post records the reason in the security events (post.moderated).</p>
    <${ErrorText} error=${error} />
    <table>
      <thead><tr><th>ID</th><th>Title</th><th>Author</th><th>Published</th><th>Moderation</th></tr></thead>
      <tbody>${data?.items.map((post) => html`<${PostRow} key=${post.id} post=${post} reload=${reload} />`)}</tbody>
    </table>
    ${data?.next_cursor ? html`<button type="button" onClick=${() => setCursor(data.next_cursor)}>Older posts</button>` : null}
  </section>`;
}

function Files() {
  const [cursor, setCursor] = useState(undefined);
  const { data, error } = useList(() => api(`/admin/files${query({ limit: 20, cursor })}`), [cursor]);
  return html`<section aria-labelledby="files-title">
    <h2 id="files-title">Files</h2>
    <${ErrorText} error=${error} />
    <table>
      <thead><tr><th>ID</th><th>Name</th><th>Type</th><th>Size</th><th>Owner</th><th>Uploaded</th></tr></thead>
      <tbody>${data?.items.map(
        (
          file,
        ) => html`<tr key=${file.id}><td>${file.id}</td><td>${file.filename}</td><td>${file.content_type}</td>
        <td>${formatBytes(file.size)}</td><td>${file.owner.username} (#${file.owner.id})</td><td>${formatTime(file.created_at)}</td></tr>`,
      )}</tbody>
    </table>
    ${data?.next_cursor ? html`<button type="button" onClick=${() => setCursor(data.next_cursor)}>Older files</button>` : null}
  </section>`;
}

function Jobs() {
  const { data, error, reload } = useList(() => api("/admin/jobs?state=failed&limit=50"));
  const retry = useAction(async (id) => {
    await api(`/admin/jobs/${encodeURIComponent(id)}/retry`, { method: "POST" });
    await reload();
  });
  return html`<section aria-labelledby="jobs-title">
    <h2 id="jobs-title">Jobs</h2>
    ${
      data
        ? html`<p class="meta">${Object.entries(data.counts)
            .map(([state, count]) => `${state}: ${count}`)
            .join(" · ")}</p>`
        : null
    }
    <${ErrorText} error=${error || retry.error} />
    <button type="button" onClick=${reload}>Refresh jobs</button>
    <table>
      <thead><tr><th>ID</th><th>Job</th><th>Attempts</th><th>Error</th><th>Failed at</th><th></th></tr></thead>
      <tbody>${data?.items.map(
        (
          job,
        ) => html`<tr key=${job.id}><td>${job.id}</td><td>${job.name}</td><td>${job.attempts_made}/${job.max_attempts}</td>
        <td>${job.error}</td><td>${job.finished_at ? formatTime(job.finished_at) : ""}</td>
        <td><button type="button" onClick=${() => retry.run(job.id)}>Retry</button></td></tr>`,
      )}</tbody>
    </table>
    ${data && data.items.length === 0 ? html`<p>No failed jobs.</p>` : null}
  </section>`;
}

function Backups() {
  const { data, error, reload } = useList(() => api("/admin/backups"));
  const [status, setStatus] = useState("");
  const start = useAction(async () => {
    const started = await api("/admin/backups", { method: "POST" });
    setStatus(`Backup ${started.name} started; it appears here when written.`);
    setTimeout(reload, 3000);
  });
  // The download needs the access token, so it is fetched and handed to the browser as a blob.
  const download = useAction(async (name) => {
    const response = await api(`/admin/backups/${encodeURIComponent(name)}`, { raw: true });
    const url = URL.createObjectURL(await response.blob());
    const link = document.createElement("a");
    link.href = url;
    link.download = name;
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });
  return html`<section aria-labelledby="backups-title">
    <h2 id="backups-title">Backups</h2>
    <${ErrorText} error=${error || start.error || download.error} />
    ${status ? html`<p role="status">${status}</p>` : null}
    <button type="button" onClick=${() => start.run()} disabled=${start.busy}>Start backup</button>
    <button type="button" onClick=${reload}>Refresh backups</button>
    <table>
      <thead><tr><th>Archive</th><th>Size</th><th>Written</th><th></th></tr></thead>
      <tbody>${data?.items.map(
        (
          backup,
        ) => html`<tr key=${backup.name}><td>${backup.name}</td><td>${formatBytes(backup.size)}</td><td>${formatTime(backup.created_at)}</td>
        <td><button type="button" onClick=${() => download.run(backup.name)}>Download ${backup.name}</button></td></tr>`,
      )}</tbody>
    </table>
  </section>`;
}

function SecurityEvents() {
  const [filter, setFilter] = useState({ event: "", user_id: "", from: "", to: "" });
  const [applied, setApplied] = useState(filter);
  const [cursors, setCursors] = useState([]);
  const cursor = cursors.at(-1);
  const toIso = (local) => (local ? new Date(local).toISOString() : "");
  const { data, error } = useList(
    () =>
      api(
        `/admin/security-events${query({ ...applied, from: toIso(applied.from), to: toIso(applied.to), limit: 20, cursor })}`,
      ),
    [applied, cursor],
  );
  const set = (name) => (value) => setFilter({ ...filter, [name]: value });
  return html`<section aria-labelledby="events-title">
    <h2 id="events-title">Security events</h2>
    <form class="inline" onSubmit=${(e) => {
      e.preventDefault();
      setCursors([]);
      // A new object every time: filtering again with the same values must fetch again (new
      // events arrive in batches), and the same object would leave the list as it was.
      setApplied({ ...filter });
    }}>
      <${Field} label="Event name" name="ev-event" value=${filter.event} onInput=${set("event")} placeholder="auth.login.failed" />
      <${Field} label="User ID" name="ev-user" type="number" min="1" value=${filter.user_id} onInput=${set("user_id")} />
      <${Field} label="From" name="ev-from" type="datetime-local" value=${filter.from} onInput=${set("from")} />
      <${Field} label="To" name="ev-to" type="datetime-local" value=${filter.to} onInput=${set("to")} />
      <button type="submit">Filter events</button>
    </form>
    <${ErrorText} error=${error} />
    <table>
      <thead><tr><th>Time</th><th>Event</th><th>User</th><th>Actor</th><th>Address</th><th>Details</th></tr></thead>
      <tbody>${data?.items.map(
        (event) => html`<tr key=${event.id}><td>${formatTime(event.occurred_at)}</td><td>${event.event}</td>
        <td>${event.user_id ?? ""}</td><td>${event.actor_id ?? ""}</td><td>${event.ip ?? ""}</td><td><code>${JSON.stringify(event.details)}</code></td></tr>`,
      )}</tbody>
    </table>
    ${cursors.length ? html`<button type="button" onClick=${() => setCursors(cursors.slice(0, -1))}>Newer events</button>` : null}
    ${data?.next_cursor ? html`<button type="button" onClick=${() => setCursors([...cursors, data.next_cursor])}>Older events</button>` : null}
  </section>`;
}

function Console() {
  const [me, setMe] = useState(undefined);
  const loadMe = async () => setMe(await api("/users/me"));
  useEffect(() => {
    const off = onSignedOut(() => setMe(null));
    refresh().then(
      (resumed) => (resumed ? loadMe() : setMe(null)),
      () => setMe(null),
    );
    return off;
  }, []);
  if (me === undefined) return html`<p role="status">Loading…</p>`;
  if (me === null) return html`<${SignInForm} onSignedIn=${loadMe} />`;
  const bar = html`<div class="bar"><p>Signed in as <strong>${me.username}</strong></p>
    <button type="button" onClick=${() => signOut()}>Sign out</button></div>`;
  if (me.role !== "admin")
    return html`${bar}<p role="alert">The console is for admins. <a href="/">Back to the web app</a></p>`;
  return html`${bar}
    <${Overview} />
    <${Users} me=${me} />
    <${Posts} />
    <${Files} />
    <${Jobs} />
    <${Backups} />
    <${SecurityEvents} />`;
}

const root = document.getElementById("app");
root.textContent = "";
render(html`<${Console} />`, root);

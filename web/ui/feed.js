// The feed: keyset pages as the reader scrolls, live posts over the WebSocket, and the
// reader's own posts editable in place.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, query } from "./api.js";
import { ErrorText, html, useAction } from "./ui.js";

const PAGE = 10;
const THUMBNAIL_RETRIES = 30;

/** An attachment's thumbnail: shown once the job has made it (file.processed, or a later retry). */
function Thumbnail({ file, bus }) {
  const [version, setVersion] = useState(0);
  const [ready, setReady] = useState(false);
  const tries = useRef(0);
  useEffect(() => {
    const onProcessed = (e) => e.detail.id === file.id && setVersion((v) => v + 1);
    bus.addEventListener("file.processed", onProcessed);
    return () => bus.removeEventListener("file.processed", onProcessed);
  }, [file.id]);
  const retry = () => {
    setReady(false);
    // Other readers hear no file.processed: they look again a little later.
    if (tries.current++ < THUMBNAIL_RETRIES) setTimeout(() => setVersion((v) => v + 1), 2000);
  };
  if (!file.content_type.startsWith("image/")) {
    return html`<a href=${`/api/v1/files/${file.id}`}>${file.filename}</a>`;
  }
  return html`<a href=${`/api/v1/files/${file.id}`} class=${ready ? "thumb" : "thumb pending"}>
    <img src=${`/api/v1/files/${file.id}/thumbnail?v=${version}`} alt=${`Thumbnail of ${file.filename}`}
      onLoad=${() => setReady(true)} onError=${retry} />
    ${ready ? null : html`<span>${file.filename} (thumbnail on its way)</span>`}
  </a>`;
}

function EditPost({ post, onDone }) {
  const [title, setTitle] = useState(post.title);
  const [content, setContent] = useState(post.content);
  const { run, error, busy } = useAction(async () => {
    await api(`/posts/${post.id}`, { method: "PATCH", json: { title, content } });
    onDone();
  });
  return html`<form onSubmit=${(e) => {
    e.preventDefault();
    run();
  }}>
    <p class="field"><label for=${`et-${post.id}`}>Edit title</label>
      <input id=${`et-${post.id}`} value=${title} onInput=${(e) => setTitle(e.currentTarget.value)} required maxlength="200" /></p>
    <p class="field"><label for=${`ec-${post.id}`}>Edit content</label>
      <textarea id=${`ec-${post.id}`} value=${content} onInput=${(e) => setContent(e.currentTarget.value)} rows="4"></textarea></p>
    <${ErrorText} error=${error} />
    <button type="submit" disabled=${busy}>Save</button>
    <button type="button" onClick=${onDone}>Cancel</button>
  </form>`;
}

function Post({ post, me, bus, onDeleted }) {
  const [editing, setEditing] = useState(false);
  const own = post.author.id === me.id;
  const remove = useAction(async () => {
    await api(`/posts/${post.id}`, { method: "DELETE" });
    onDeleted(post.id);
  });
  return html`<li><article class="post" aria-labelledby=${`post-${post.id}`}>
    <h3 id=${`post-${post.id}`}>${post.title}</h3>
    <p class="meta">by ${post.author.username} · <time datetime=${post.created_at}>${new Date(post.created_at).toLocaleString()}</time></p>
    ${editing ? html`<${EditPost} post=${post} onDone=${() => setEditing(false)} />` : html`<p class="content">${post.content}</p>`}
    ${post.attachments.length > 0 ? html`<div class="attachments">${post.attachments.map((file) => html`<${Thumbnail} key=${file.id} file=${file} bus=${bus} />`)}</div>` : null}
    ${
      own && !editing
        ? html`<p class="actions">
      <button type="button" onClick=${() => setEditing(true)}>Edit</button>
      <button type="button" onClick=${() => remove.run()} disabled=${remove.busy}>Delete</button></p>`
        : null
    }
    <${ErrorText} error=${remove.error} />
  </article></li>`;
}

export function Feed({ me, bus }) {
  const [posts, setPosts] = useState([]);
  const [cursor, setCursor] = useState(undefined);
  const [done, setDone] = useState(false);
  const loading = useRef(false);
  const sentinel = useRef(null);
  const [error, setError] = useState("");

  async function loadMore() {
    if (loading.current || done) return;
    loading.current = true;
    try {
      const page = await api(`/posts${query({ limit: PAGE, cursor })}`);
      setPosts((shown) => [...shown, ...page.items.filter((p) => !shown.some((s) => s.id === p.id))]);
      setCursor(page.next_cursor ?? undefined);
      setDone(page.next_cursor === null);
    } catch (failure) {
      setError(failure.message);
    } finally {
      loading.current = false;
    }
  }

  useEffect(() => {
    loadMore();
  }, []);

  // Infinite scroll: the next page loads when the end of the list comes into view.
  useEffect(() => {
    if (!sentinel.current) return;
    const observer = new IntersectionObserver(
      (entries) => entries.some((e) => e.isIntersecting) && loadMore(),
    );
    observer.observe(sentinel.current);
    return () => observer.disconnect();
  }, [cursor, done]);

  useEffect(() => {
    const created = (e) =>
      setPosts((shown) => (shown.some((p) => p.id === e.detail.id) ? shown : [e.detail, ...shown]));
    const updated = (e) => setPosts((shown) => shown.map((p) => (p.id === e.detail.id ? e.detail : p)));
    const deleted = (e) => setPosts((shown) => shown.filter((p) => p.id !== e.detail.id));
    bus.addEventListener("post.created", created);
    bus.addEventListener("post.updated", updated);
    bus.addEventListener("post.deleted", deleted);
    return () => {
      bus.removeEventListener("post.created", created);
      bus.removeEventListener("post.updated", updated);
      bus.removeEventListener("post.deleted", deleted);
    };
  }, []);

  return html`<section aria-labelledby="feed-title">
    <h2 id="feed-title">Feed</h2>
    <${ErrorText} error=${error} />
    <ul aria-label="Posts" class="posts">
      ${posts.map((post) => html`<${Post} key=${post.id} post=${post} me=${me} bus=${bus} onDeleted=${(id) => setPosts((s) => s.filter((p) => p.id !== id))} />`)}
    </ul>
    ${
      done
        ? html`<p class="meta">${posts.length ? "That is every post." : "No posts yet."}</p>`
        : html`<button type="button" ref=${sentinel} onClick=${loadMore}>Load more posts</button>`
    }
  </section>`;
}

export function Composer() {
  const [title, setTitle] = useState("");
  const [content, setContent] = useState("");
  const [status, setStatus] = useState("");
  const fileInput = useRef(null);
  const { run, error, busy } = useAction(async () => {
    const file = fileInput.current.files[0];
    let attachmentIds = [];
    if (file) {
      const form = new FormData();
      form.append("file", file);
      attachmentIds = [(await api("/files", { method: "POST", form })).id];
    }
    const post = await api("/posts", {
      method: "POST",
      json: { title, content, attachment_ids: attachmentIds },
    });
    setTitle("");
    setContent("");
    fileInput.current.value = "";
    setStatus(`Published "${post.title}".`);
  });
  return html`<form class="card" onSubmit=${(e) => {
    e.preventDefault();
    run();
  }} aria-labelledby="write-title">
    <h2 id="write-title">Write a post</h2>
    <p class="field"><label for="post-title">Title</label>
      <input id="post-title" value=${title} onInput=${(e) => setTitle(e.currentTarget.value)} required maxlength="200" /></p>
    <p class="field"><label for="post-content">Content</label>
      <textarea id="post-content" value=${content} onInput=${(e) => setContent(e.currentTarget.value)} rows="4"></textarea></p>
    <p class="field"><label for="post-file">Attachment</label>
      <input id="post-file" type="file" ref=${fileInput} accept="image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain" /></p>
    <${ErrorText} error=${error} />
    ${status ? html`<p role="status">${status}</p>` : null}
    <button type="submit" disabled=${busy}>Publish</button>
  </form>`;
}

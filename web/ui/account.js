// Search, the wallet (balance, transfers) and the profile with its sessions.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, query } from "./api.js";
import { ErrorText, Field, formatTime, Highlight, html, useAction } from "./ui.js";

export function Search() {
  const [q, setQ] = useState("");
  const [suggestions, setSuggestions] = useState([]);
  const [results, setResults] = useState(null);
  const timer = useRef(undefined);
  const { run, error } = useAction(async (text = q) => {
    setSuggestions([]);
    if (!text.trim()) return setResults(null);
    setResults((await api(`/search/posts${query({ q: text.trim(), limit: 10 })}`)).items);
  });
  const pick = (title) => {
    setQ(title);
    run(`"${title.replaceAll('"', " ")}"`);
  };
  // Suggestions while typing, asked for once the typing pauses.
  const onInput = (value) => {
    setQ(value);
    clearTimeout(timer.current);
    if (!value.trim()) return setSuggestions([]);
    timer.current = setTimeout(async () => {
      try {
        setSuggestions((await api(`/search/suggest${query({ q: value.trim(), limit: 8 })}`)).items);
      } catch {
        setSuggestions([]);
      }
    }, 200);
  };
  return html`<section aria-labelledby="search-title">
    <h2 id="search-title">Search</h2>
    <form role="search" onSubmit=${(e) => {
      e.preventDefault();
      run();
    }}>
      <input type="search" aria-label="Search" value=${q} onInput=${(e) => onInput(e.currentTarget.value)} placeholder=${'Words, "phrases", -exclusions'} />
      <button type="submit">Search</button>
    </form>
    ${
      suggestions.length > 0
        ? html`<ul aria-label="Suggestions" class="suggestions">
          ${suggestions.map((s) => html`<li key=${s.id}><button type="button" onClick=${() => pick(s.title)}>${s.title}</button></li>`)}
        </ul>`
        : null
    }
    <${ErrorText} error=${error} />
    ${
      results === null
        ? null
        : results.length === 0
          ? html`<p role="status">Nothing found.</p>`
          : html`<ul aria-label="Search results" class="results">
          ${results.map((hit) => html`<li key=${hit.id}><strong>${hit.title}</strong> <span class="meta">by ${hit.author.username}</span><br /><${Highlight} text=${hit.highlight} /></li>`)}
        </ul>`
    }
  </section>`;
}

export function Wallet({ me, bus, onChanged }) {
  const [to, setTo] = useState("");
  const [amount, setAmount] = useState("");
  const [memo, setMemo] = useState("");
  const [result, setResult] = useState("");
  const [notice, setNotice] = useState("");
  const [transfers, setTransfers] = useState([]);
  // One key per intended transfer: a resubmission after a failure is the same transfer.
  const key = useRef(crypto.randomUUID());
  const load = async () => setTransfers((await api("/transfers?limit=10")).items);
  useEffect(() => {
    load().catch(() => {});
    const received = (e) => {
      setNotice(`Received ${e.detail.amount} credits from user #${e.detail.from_user_id}.`);
      onChanged();
      load().catch(() => {});
    };
    bus.addEventListener("transfer.received", received);
    return () => bus.removeEventListener("transfer.received", received);
  }, []);
  const { run, error, busy } = useAction(async () => {
    const body = { to_user_id: Number(to), amount: Number(amount), ...(memo ? { memo } : {}) };
    const transfer = await api("/transfers", {
      method: "POST",
      json: body,
      headers: { "idempotency-key": key.current },
    });
    key.current = crypto.randomUUID();
    setResult(`Sent ${transfer.amount} credits to user #${transfer.to_user_id} (transfer #${transfer.id}).`);
    setAmount("");
    setMemo("");
    onChanged();
    await load();
  });
  const changed = (setter) => (value) => {
    key.current = crypto.randomUUID();
    setter(value);
  };
  return html`<section aria-labelledby="wallet-title">
    <h2 id="wallet-title">Wallet</h2>
    <p>Balance: <strong data-testid="balance">${me.balance}</strong> credits</p>
    ${notice ? html`<p role="status">${notice}</p>` : null}
    <form class="card" onSubmit=${(e) => {
      e.preventDefault();
      run();
    }} aria-labelledby="transfer-title">
      <h3 id="transfer-title">Send credits</h3>
      <${Field} label="Recipient user ID" name="to" type="number" min="1" value=${to} onInput=${changed(setTo)} required />
      <${Field} label="Amount" name="amount" type="number" min="1" value=${amount} onInput=${changed(setAmount)} required />
      <${Field} label="Memo" name="memo" value=${memo} onInput=${changed(setMemo)} maxlength="200" />
      <${ErrorText} error=${error} />
      ${result ? html`<p role="status">${result}</p>` : null}
      <button type="submit" disabled=${busy}>Send credits</button>
    </form>
    <h3>Recent transfers</h3>
    <ul aria-label="Transfers">
      ${transfers.map((t) => html`<li key=${t.id}>${t.from_user_id === me.id ? `Sent ${t.amount} to user #${t.to_user_id}` : `Received ${t.amount} from user #${t.from_user_id}`}${t.memo ? ` — ${t.memo}` : ""} <span class="meta">${formatTime(t.created_at)}</span></li>`)}
    </ul>
  </section>`;
}

export function Profile({ me }) {
  const [sessions, setSessions] = useState([]);
  const load = async () => setSessions((await api("/auth/sessions")).items);
  useEffect(() => {
    load().catch(() => {});
  }, []);
  const revoke = useAction(async (id) => {
    await api(`/auth/sessions/${encodeURIComponent(id)}`, { method: "DELETE" });
    await load();
  });
  return html`<section aria-labelledby="profile-title">
    <h2 id="profile-title">Profile</h2>
    <dl class="profile">
      <dt>User ID</dt><dd>${me.id}</dd>
      <dt>Username</dt><dd>${me.username}</dd>
      <dt>Email</dt><dd>${me.email}</dd>
      <dt>Role</dt><dd>${me.role}</dd>
    </dl>
    <h3>Your sessions</h3>
    <${ErrorText} error=${revoke.error} />
    <ul aria-label="Sessions">
      ${sessions.map(
        (
          s,
        ) => html`<li key=${s.id}>${s.user_agent ?? "Unknown client"} · ${s.ip_address ?? ""} · since ${formatTime(s.created_at)}
        ${s.current ? html` <strong>(this one)</strong>` : html` <button type="button" onClick=${() => revoke.run(s.id)}>Revoke</button>`}</li>`,
      )}
    </ul>
  </section>`;
}

// The web app at /: sign up and in, the feed (live), writing, search, wallet and profile.
import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { Profile, Search, Wallet } from "./account.js";
import { api, onSignedOut, refresh, signOut } from "./api.js";
import { Composer, Feed } from "./feed.js";
import { connectLive } from "./live.js";
import { html, SignInForm, SignUpForm } from "./ui.js";

function SignedIn({ me, reloadMe }) {
  const [status, setStatus] = useState("connecting");
  // Live events go out on this bus to whichever part of the page shows them.
  const bus = useRef(new EventTarget()).current;
  useEffect(
    () =>
      connectLive(
        (event) => bus.dispatchEvent(new CustomEvent(event.type, { detail: event.data })),
        setStatus,
      ),
    [],
  );
  return html`<div class="signed-in">
    <div class="bar">
      <p>Signed in as <strong>${me.username}</strong> · <span class="meta">live: ${status}</span></p>
      <button type="button" onClick=${() => signOut()}>Sign out</button>
    </div>
    <div class="columns">
      <div class="column">
        <${Composer} />
        <${Feed} me=${me} bus=${bus} />
      </div>
      <div class="column side">
        <${Search} />
        <${Wallet} me=${me} bus=${bus} onChanged=${reloadMe} />
        <${Profile} me=${me} />
      </div>
    </div>
  </div>`;
}

function App() {
  // undefined: finding out whether a session can be resumed; null: signed out.
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
  if (me === null) {
    return html`<div class="columns">
      <div class="column"><${SignInForm} onSignedIn=${loadMe} /></div>
      <div class="column"><${SignUpForm} /></div>
    </div>`;
  }
  return html`<${SignedIn} me=${me} reloadMe=${loadMe} />`;
}

const root = document.getElementById("app");
root.textContent = "";
render(html`<${App} />`, root);

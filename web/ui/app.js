// The web app at /: sign up and in, the feed (live), writing, search, wallet and profile.
import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { Profile, Search, Wallet } from "./account.js";
import { api, exchangeOidcCode, onSignedOut, refresh, signOut } from "./api.js";
import { Composer, Feed } from "./feed.js";
import { connectLive } from "./live.js";
import { html, SignInForm, SignUpForm } from "./ui.js";

// What the live connection's state means to a reader.
const LIVE_STATUS = { connecting: "connecting…", live: "on", reconnecting: "reconnecting…" };

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
      <p>Signed in as <strong>${me.username}</strong> · <span class="meta">live updates ${LIVE_STATUS[status] ?? status}</span></p>
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

/** Why a provider's sign-in came back without a code (OIDC_RETURN_URL?error=…). */
const OIDC_ERRORS = {
  account_exists_link_required:
    "An account already uses this email address, but the provider has not verified it. Sign in with your password, then link the provider.",
  verified_email_required:
    "The provider has not verified your email address, so no account can be made for it.",
  identity_linked_elsewhere: "This provider account is linked to another Kaira account.",
  provider_denied: "The sign-in was cancelled at the provider.",
  invalid_state: "The sign-in expired or was started in another browser. Please try again.",
};

/**
 * This page is where a provider's sign-in returns (OIDC_RETURN_URL): `?code=` to exchange once,
 * or `?error=`. Either is taken out of the address bar at once.
 */
function oidcReturn() {
  const params = new URLSearchParams(location.search);
  const code = params.get("code");
  const error = params.get("error");
  if (code === null && error === null) return null;
  history.replaceState(null, "", location.pathname);
  return { code, error };
}

function App() {
  // undefined: finding out whether a session can be resumed; null: signed out.
  const [me, setMe] = useState(undefined);
  const [mfaToken, setMfaToken] = useState(null);
  const [notice, setNotice] = useState("");
  const loadMe = async () => {
    setMfaToken(null);
    setNotice("");
    setMe(await api("/users/me"));
  };
  useEffect(() => {
    const off = onSignedOut(() => setMe(null));
    const returned = oidcReturn();
    const start = async () => {
      if (returned?.code) {
        try {
          const result = await exchangeOidcCode(returned.code);
          if (!result.mfaToken) return loadMe();
          setMfaToken(result.mfaToken);
        } catch (failure) {
          setNotice(`The sign-in with the provider failed: ${failure.message}`);
        }
        return setMe(null);
      }
      if (returned?.error) {
        setNotice(OIDC_ERRORS[returned.error] ?? `The sign-in with the provider failed (${returned.error}).`);
      }
      if (await refresh()) return loadMe();
      setMe(null);
    };
    start().catch(() => setMe(null));
    return off;
  }, []);
  if (me === undefined) return html`<p role="status">Loading…</p>`;
  if (me === null) {
    return html`<div class="columns">
      <div class="column"><${SignInForm} key=${mfaToken ?? "password"} onSignedIn=${loadMe} mfaToken=${mfaToken} notice=${notice} providers=${true} /></div>
      <div class="column"><${SignUpForm} /></div>
    </div>`;
  }
  return html`<${SignedIn} me=${me} reloadMe=${loadMe} />`;
}

const root = document.getElementById("app");
root.textContent = "";
render(html`<${App} />`, root);

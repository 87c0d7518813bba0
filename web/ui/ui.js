// Shared pieces of the two pages. htm builds Preact elements from tagged templates: every
// interpolated value is text or an attribute, escaped by Preact; no page sets innerHTML.
import htm from "htm";
import { h } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, signIn, verifyMfa } from "./api.js";

export const html = htm.bind(h);

export const formatBytes = (bytes) =>
  bytes < 1024
    ? `${bytes} B`
    : bytes < 1048576
      ? `${(bytes / 1024).toFixed(1)} KB`
      : `${(bytes / 1048576).toFixed(1)} MB`;
export const formatTime = (iso) => new Date(iso).toLocaleString();

/** Runs a form's async action, keeping its error to show and a busy flag. */
export function useAction(action) {
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const run = async (...args) => {
    setBusy(true);
    setError("");
    try {
      return await action(...args);
    } catch (failure) {
      setError(failure.message || String(failure));
    } finally {
      setBusy(false);
    }
  };
  return { run, error, busy };
}

export const ErrorText = ({ error }) => (error ? html`<p class="error" role="alert">${error}</p>` : null);

/** A labelled input: the label is the control's accessible name. */
export function Field({ label, type = "text", name, value, onInput, ...rest }) {
  const id = `f-${name}`;
  return html`<p class="field">
    <label for=${id}>${label}</label>
    <input id=${id} name=${name} type=${type} value=${value} onInput=${(e) => onInput(e.currentTarget.value)} ...${rest} />
  </p>`;
}

const MAIL_FORMS = {
  reset: {
    title: "Forgot password?",
    intro: "We mail a link to set a new password to the address of your account.",
    path: "/auth/password-reset",
    button: "Send reset link",
  },
  verification: {
    title: "Resend verification",
    intro: "We mail a new verification link to the address if its account is not verified yet.",
    path: "/auth/verify-email/resend",
    button: "Send verification link",
  },
};

/** Asks for an account mail by address (always the same answer, whether an account has it or not). */
export function AccountMailForm({ kind, email: initial = "" }) {
  const form = MAIL_FORMS[kind];
  const [email, setEmail] = useState(initial);
  const [done, setDone] = useState("");
  const { run, error, busy } = useAction(async () => {
    const answer = await api(form.path, { method: "POST", json: { email: email.trim() } });
    setDone(answer.detail);
  });
  return html`<form class="card" onSubmit=${(e) => {
    e.preventDefault();
    run();
  }} aria-labelledby=${`${kind}-title`}>
    <h3 id=${`${kind}-title`}>${form.title}</h3>
    <p>${form.intro}</p>
    <${Field} label="Account email" name=${`${kind}-email`} type="email" value=${email} onInput=${setEmail} autocomplete="email" required />
    <${ErrorText} error=${error} />
    ${done ? html`<p role="status" class="success">${done}</p>` : null}
    <button type="submit" disabled=${busy}>${form.button}</button>
  </form>`;
}

/** "Sign in with <name>" for each OpenID Connect provider the server offers (none: nothing shown). */
function ProviderButtons() {
  const [providers, setProviders] = useState([]);
  useEffect(() => {
    api("/auth/oidc/providers").then(
      (answer) => setProviders(answer.items),
      () => setProviders([]),
    );
  }, []);
  if (providers.length === 0) return null;
  const label = (name) => `Sign in with ${name.charAt(0).toUpperCase()}${name.slice(1)}`;
  return html`<p class="providers">
    ${providers.map(
      (p) =>
        html`<button key=${p.name} type="button" onClick=${() => location.assign(p.start_url)}>${label(p.name)}</button>`,
    )}
  </p>`;
}

/**
 * Sign-in, with the second step for accounts that use two-factor authentication; `mfaToken`
 * when that step is already due (after a provider's sign-in), `notice` an error to show.
 */
export function SignInForm({ onSignedIn, mfaToken: pendingMfa = null, notice = "", providers = false }) {
  const [login, setLogin] = useState("");
  const [password, setPassword] = useState("");
  const [mfaToken, setMfaToken] = useState(pendingMfa);
  const [code, setCode] = useState("");
  // "reset" or "verification": the mail form shown under the sign-in form.
  const [mailForm, setMailForm] = useState(null);
  const { run, error, busy } = useAction(async () => {
    if (mfaToken) {
      await verifyMfa(mfaToken, code.trim());
      return onSignedIn();
    }
    const result = await signIn(login.trim(), password);
    if (result.mfaToken) setMfaToken(result.mfaToken);
    else onSignedIn();
  });
  const submit = (e) => {
    e.preventDefault();
    run();
  };
  if (mfaToken) {
    return html`<form class="card" onSubmit=${submit} aria-labelledby="mfa-title">
      <h2 id="mfa-title">Two-factor authentication</h2>
      <${Field} label="Authentication code" name="code" value=${code} onInput=${setCode} autocomplete="one-time-code" inputmode="numeric" required />
      <${ErrorText} error=${error} />
      <button type="submit" disabled=${busy}>Verify</button>
    </form>`;
  }
  const toggle = (kind) => setMailForm(mailForm === kind ? null : kind);
  return html`<div>
    <form class="card" onSubmit=${submit} aria-labelledby="signin-title">
      <h2 id="signin-title">Sign in</h2>
      <${Field} label="Email or username" name="login" value=${login} onInput=${setLogin} autocomplete="username" required />
      <${Field} label="Password" name="password" type="password" value=${password} onInput=${setPassword} autocomplete="current-password" required />
      <${ErrorText} error=${error || notice} />
      <button type="submit" disabled=${busy}>Sign in</button>
      ${providers ? html`<${ProviderButtons} />` : null}
      <p class="links">
        <button type="button" class="link" aria-expanded=${mailForm === "reset"} onClick=${() => toggle("reset")}>Forgot password?</button>
        <button type="button" class="link" aria-expanded=${mailForm === "verification"} onClick=${() => toggle("verification")}>Resend verification</button>
      </p>
    </form>
    ${mailForm ? html`<${AccountMailForm} key=${mailForm} kind=${mailForm} email=${login.includes("@") ? login.trim() : ""} />` : null}
  </div>`;
}

export function SignUpForm({ onCreated }) {
  const [email, setEmail] = useState("");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [done, setDone] = useState("");
  const { run, error, busy } = useAction(async () => {
    await api("/users", {
      method: "POST",
      json: { email: email.trim(), username: username.trim(), password },
    });
    setDone(`Account created for ${username}. Sign in with your email and password.`);
    onCreated?.(email.trim());
  });
  return html`<form class="card" onSubmit=${(e) => {
    e.preventDefault();
    run();
  }} aria-labelledby="signup-title">
    <h2 id="signup-title">Create an account</h2>
    <${Field} label="Email" name="signup-email" type="email" value=${email} onInput=${setEmail} autocomplete="email" required />
    <${Field} label="Username" name="signup-username" value=${username} onInput=${setUsername} autocomplete="nickname" required minlength="3" maxlength="32" />
    <${Field} label="Password" name="signup-password" type="password" value=${password} onInput=${setPassword} autocomplete="new-password" required minlength="8" />
    <${ErrorText} error=${error} />
    ${done ? html`<p role="status">${done}</p>` : null}
    <button type="submit" disabled=${busy}>Create account</button>
  </form>`;
}

const ENTITIES = { "&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"', "&#39;": "'", "&#x27;": "'" };

/**
 * A search highlight, rendered without innerHTML: the API sends escaped text in which only
 * <mark>…</mark> is markup. The string is cut at those tags, each piece unescaped to plain
 * text, and the marked pieces wrapped in <mark> elements; anything else stays text.
 */
export function Highlight({ text }) {
  const parts = String(text).split(/(<mark>|<\/mark>)/);
  let marked = false;
  const nodes = [];
  for (const part of parts) {
    if (part === "<mark>") marked = true;
    else if (part === "</mark>") marked = false;
    else if (part) {
      const plain = part.replace(/&(?:lt|gt|amp|quot|#39|#x27);/g, (entity) => ENTITIES[entity]);
      nodes.push(marked ? html`<mark>${plain}</mark>` : plain);
    }
  }
  return html`<span>${nodes}</span>`;
}

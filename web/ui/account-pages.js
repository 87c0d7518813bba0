// The pages account mail links open: PUBLIC_URL/account/<page>#token=…. The token is read from
// the fragment (browsers never send it to a server, so it stays out of logs and Referer
// headers), taken out of the address bar, and posted to the matching public endpoint.
import { render } from "preact";
import { useState } from "preact/hooks";
import { ApiError, api } from "./api.js";
import { AccountMailForm, ErrorText, Field, html, useAction } from "./ui.js";

const token = new URLSearchParams(location.hash.slice(1)).get("token") ?? "";
// Out of the address bar and the history: a copied URL or a later visit does not carry it.
if (location.hash) history.replaceState(null, "", location.pathname);
// Another link pasted into this tab changes only the fragment: start over with its token.
addEventListener("hashchange", () => location.reload());

/** What a refused link means for a person, by the problem's code. */
function explain(error, what) {
  if (error instanceof ApiError) {
    if (error.code === "invalid_token")
      return `This ${what} link is invalid, has expired or was used already.`;
    if (error.code === "too_many_attempts") return "Too many attempts from here. Try again later.";
  }
  return error.message || String(error);
}

/** A page whose one action posts the token; `done` is the success message. */
function TokenPage({ title, intro, action, path, done, what, after }) {
  const [result, setResult] = useState("");
  const [failure, setFailure] = useState(null);
  const { run, busy } = useAction(async () => {
    setFailure(null);
    try {
      await api(path, { method: "POST", json: { token } });
      setResult(done);
    } catch (error) {
      setFailure(explain(error, what));
    }
  });
  return html`<section class="card narrow" aria-labelledby="page-title">
    <h2 id="page-title">${title}</h2>
    ${
      result
        ? html`<p role="status" class="success">${result}</p><p><a href="/">Go to Kaira</a></p>`
        : html`<p>${intro}</p>
          <${ErrorText} error=${failure} />
          <button type="button" onClick=${() => run()} disabled=${busy}>${action}</button>
          ${failure ? after : null}`
    }
  </section>`;
}

function ResetPassword() {
  const [password, setPassword] = useState("");
  const [result, setResult] = useState("");
  const [failure, setFailure] = useState(null);
  const { run, busy } = useAction(async () => {
    setFailure(null);
    try {
      await api("/auth/password-reset/confirm", { method: "POST", json: { token, password } });
      setResult("Your password was changed, and every session of your account was signed out.");
      setPassword("");
    } catch (error) {
      setFailure(error);
    }
  });
  if (result) {
    return html`<section class="card narrow" aria-labelledby="page-title">
      <h2 id="page-title">Set a new password</h2>
      <p role="status" class="success">${result}</p>
      <p><a href="/">Sign in with your new password</a></p>
    </section>`;
  }
  return html`<form class="card narrow" aria-labelledby="page-title" onSubmit=${(e) => {
    e.preventDefault();
    run();
  }}>
    <h2 id="page-title">Set a new password</h2>
    <${Field} label="New password" name="new-password" type="password" value=${password} onInput=${setPassword} autocomplete="new-password" required minlength="8" maxlength="128" />
    <${ErrorText} error=${failure && explain(failure, "password reset")} />
    <button type="submit" disabled=${busy}>Set new password</button>
    ${failure?.code === "invalid_token" ? html`<p>Ask for a new link with “Forgot password?” on the <a href="/">sign-in page</a>.</p>` : null}
  </form>`;
}

const PAGES = {
  "/account/verify-email": () =>
    html`<${TokenPage}
      title="Verify your email address"
      intro="Confirm that this email address belongs to your Kaira account."
      action="Verify email address"
      path="/auth/verify-email"
      done="Your email address is verified."
      what="verification"
      after=${html`<${AccountMailForm} kind="verification" />`}
    />`,
  "/account/reset-password": () => html`<${ResetPassword} />`,
  "/account/confirm-email": () =>
    html`<${TokenPage}
      title="Confirm your new email address"
      intro="Your account will use this new address from now on."
      action="Confirm new address"
      path="/auth/email-change/confirm"
      done="Your new email address is confirmed."
      what="confirmation"
    />`,
  "/account/cancel-email-change": () =>
    html`<${TokenPage}
      title="Cancel the email change"
      intro="Keep the old address on your account. If the change was already confirmed, it is undone and every session of your account is signed out: set a new password next if someone else may have your account."
      action="Cancel the change"
      path="/auth/email-change/cancel"
      done="The email change is cancelled; your account keeps its old address."
      what="cancel"
    />`,
};

function Page() {
  const page = PAGES[location.pathname.replace(/\/+$/, "")];
  if (!page) return html`<p role="alert" class="error">This page does not exist.</p>`;
  if (!token) {
    return html`<section class="card narrow" aria-labelledby="page-title">
      <h2 id="page-title">This link is incomplete</h2>
      <p role="alert" class="error">The link has no token. Open it exactly as it appears in the mail, or copy all of it into the address bar.</p>
    </section>`;
  }
  return page();
}

const root = document.getElementById("app");
root.textContent = "";
render(html`<${Page} />`, root);

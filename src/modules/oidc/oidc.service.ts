import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { SecurityLog } from "../../http/security-log.js";
import type { Cache } from "../../platform/cache/index.js";
import { ConflictError, NotFoundError, UnauthorizedError } from "../../shared/errors.js";
import type { AuthService, ClientInfo, SignInResult } from "../auth/auth.service.js";
import type { IdentitiesRepository } from "./identities.repository.js";
import type { OidcProviderClient, VerifiedIdentity } from "./oidc-provider-client.js";

/** What sign-in needs of accounts (the users repository provides it). */
export interface OidcAccounts {
  findById(id: number): Promise<{ id: number; passwordHash: string } | undefined>;
  findByEmail(email: string): Promise<{ id: number } | undefined>;
  insert(user: {
    email: string;
    username: string;
    passwordHash: string;
    emailVerifiedAt?: Date;
  }): Promise<{ id: number }>;
}

/** A started sign-in, kept server-side under its `state` for FLOW_TTL. */
interface Flow {
  provider: string;
  nonce: string;
  codeVerifier: string;
  /** SHA-256 of the browser-binding cookie set at the start (ASVS 10.1.2: same user agent). */
  binding: string;
  /** Set when a signed-in user links this provider explicitly. */
  linkUserId?: number;
}

const FLOW_TTL_MS = 10 * 60 * 1000;
/** The one-time code handed to OIDC_RETURN_URL: exchanged at once by the client. */
const SIGN_IN_CODE_TTL_MS = 60 * 1000;

const random = () => randomBytes(32).toString("base64url");
const sha256 = (value: string) => createHash("sha256").update(value).digest("base64url");
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** Why a sign-in ended without an account; the client gets it as `?error=` on OIDC_RETURN_URL. */
export class SignInRefused extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

export function createOidcService(deps: {
  providers: Map<string, OidcProviderClient>;
  cache: Cache;
  identities: IdentitiesRepository;
  accounts: OidcAccounts;
  authService: Pick<AuthService, "signInVerified">;
  /** How long the one-time sign-in code lives (tests shorten SIGN_IN_CODE_TTL_MS). */
  signInCodeTtlMs?: number | undefined;
}) {
  const { providers, cache, identities, accounts } = deps;
  const signInCodeTtlMs = deps.signInCodeTtlMs ?? SIGN_IN_CODE_TTL_MS;

  const providerNamed = (name: string) => {
    const provider = providers.get(name);
    if (!provider) throw new NotFoundError("No such sign-in provider", "oidc_provider_not_found");
    return provider;
  };

  /** Reads and spends a single-use record: of two requests with one key, only one gets it. */
  async function take(key: string, ttlMs: number): Promise<string | undefined> {
    const value = await cache.get(key);
    if (value === undefined) return undefined;
    if (!(await cache.setIfAbsent(`${key}:spent`, "1", ttlMs))) return undefined;
    await cache.delete(key);
    return value;
  }

  async function accountFor(provider: string, identity: VerifiedIdentity, flow: Flow, log: SecurityLog) {
    const linked = await identities.find(provider, identity.subject);
    if (linked) {
      if (flow.linkUserId !== undefined && flow.linkUserId !== linked.userId)
        throw new SignInRefused("identity_linked_elsewhere");
      await identities.touch(linked.id, identity.email ?? null);
      return linked.userId;
    }
    let userId = flow.linkUserId;
    if (userId === undefined && identity.email !== undefined) {
      const existing = await accounts.findByEmail(identity.email);
      // An email the provider has not verified proves nothing: linking by it would hand the
      // account to whoever typed that address at the provider.
      if (existing && !identity.emailVerified) throw new SignInRefused("account_exists_link_required");
      userId = existing?.id;
    }
    if (userId === undefined) {
      if (identity.email === undefined || !identity.emailVerified)
        throw new SignInRefused("verified_email_required");
      userId = (await createAccount(identity)).id;
      log({ event: "user.registered", user_id: userId, method: `oidc:${provider}` });
    }
    if (
      !(await identities.link({ userId, provider, subject: identity.subject, email: identity.email ?? null }))
    )
      throw new SignInRefused("identity_linked_elsewhere");
    log({ event: "oidc.identity.linked", user_id: userId, provider });
    return userId;
  }

  async function createAccount(identity: VerifiedIdentity) {
    const base =
      (identity.preferredUsername ?? identity.email?.split("@")[0] ?? "user")
        .replace(/[^A-Za-z0-9_.-]/g, "")
        .slice(0, 24) || "user";
    // No password: the account signs in through its provider until the user sets one.
    return accounts.insert({
      email: identity.email as string,
      username: `${base}_${randomBytes(3).toString("hex")}`,
      passwordHash: "",
      // Created only for an email the provider verified (see accountFor).
      emailVerifiedAt: new Date(),
    });
  }

  return {
    providerNames: () => [...providers.keys()],

    /** A new flow: where to send the browser, and the binding value for its cookie. */
    async start(providerName: string, linkUserId?: number) {
      const provider = providerNamed(providerName);
      const state = random();
      const nonce = random();
      const codeVerifier = random();
      const binding = random();
      const flow: Flow = {
        provider: provider.name,
        nonce,
        codeVerifier,
        binding: sha256(binding),
        ...(linkUserId ? { linkUserId } : {}),
      };
      const url = await provider.authorizationUrl({ state, nonce, codeChallenge: sha256(codeVerifier) });
      await cache.set(`oidc:flow:${sha256(state)}`, JSON.stringify(flow), FLOW_TTL_MS);
      return { url, binding, maxAgeSeconds: FLOW_TTL_MS / 1000 };
    },

    /**
     * The provider sent the browser back. Checks state (single use, this provider, this
     * browser), the issuer if the provider names it (RFC 9207), redeems the code and returns
     * a one-time sign-in code for the client. Throws SignInRefused with a reason otherwise.
     */
    async callback(
      providerName: string,
      query: {
        state?: string | undefined;
        code?: string | undefined;
        iss?: string | undefined;
        error?: string | undefined;
      },
      binding: string | undefined,
      log: SecurityLog,
    ): Promise<string> {
      const provider = providerNamed(providerName);
      if (!query.state || !TOKEN.test(query.state)) throw new SignInRefused("invalid_state");
      const stored = await take(`oidc:flow:${sha256(query.state)}`, FLOW_TTL_MS);
      if (!stored) throw new SignInRefused("invalid_state");
      const flow = JSON.parse(stored) as Flow;
      const bound =
        binding !== undefined &&
        timingSafeEqual(Buffer.from(sha256(binding)), Buffer.from(flow.binding)) &&
        flow.provider === provider.name;
      if (!bound) {
        log({ event: "oidc.sign_in.failed", provider: providerName, reason: "browser_mismatch" });
        throw new SignInRefused("invalid_state");
      }
      if (query.iss !== undefined && query.iss !== provider.issuer)
        throw new SignInRefused("issuer_mismatch");
      if (query.error !== undefined || !query.code) throw new SignInRefused("provider_denied");
      let identity: VerifiedIdentity;
      try {
        identity = await provider.redeem(query.code, flow.codeVerifier, flow.nonce);
      } catch (error) {
        log({ event: "oidc.sign_in.failed", provider: provider.name, reason: (error as Error).message });
        throw new SignInRefused("provider_error");
      }
      let userId: number;
      try {
        userId = await accountFor(provider.name, identity, flow, log);
      } catch (error) {
        if (error instanceof SignInRefused)
          log({ event: "oidc.sign_in.failed", provider: provider.name, reason: error.reason });
        throw error;
      }
      const code = random();
      await cache.set(
        `oidc:code:${sha256(code)}`,
        JSON.stringify({ userId, provider: provider.name }),
        signInCodeTtlMs,
      );
      return code;
    },

    /** The client redeems the one-time code: tokens, or `mfa_required` for users with MFA. */
    async exchange(code: string, client: ClientInfo, log: SecurityLog): Promise<SignInResult> {
      const stored = TOKEN.test(code) ? await take(`oidc:code:${sha256(code)}`, signInCodeTtlMs) : undefined;
      if (!stored)
        throw new UnauthorizedError("The sign-in code is invalid or expired", "invalid_sign_in_code");
      const { userId, provider } = JSON.parse(stored) as { userId: number; provider: string };
      return deps.authService.signInVerified(userId, client, `oidc:${provider}`, log);
    },

    listIdentities: (userId: number) => identities.listForUser(userId),

    /** Unlinks only when the account keeps a way in: a password or another provider. */
    async unlink(userId: number, id: number, log: SecurityLog): Promise<void> {
      // Decided in the database, under the account's row lock: two unlinks racing for the
      // last two links of a password-less account leave one.
      const outcome = await identities.unlink(userId, id);
      if (outcome === "last")
        throw new ConflictError("last_sign_in_method", "Set a password or link another provider first");
      if (outcome === "not_found") throw new NotFoundError("No such linked identity", "identity_not_found");
      log({ event: "oidc.identity.unlinked", user_id: userId, identity_id: id });
    },
  };
}

export type OidcService = ReturnType<typeof createOidcService>;

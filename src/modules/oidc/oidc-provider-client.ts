import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from "jose";
import type { OidcProviderConfig } from "../../config.js";
import { DomainError } from "../../shared/errors.js";

/** Every call to a provider ends within this (discovery, token, JWKS). */
const OUTBOUND_TIMEOUT_MS = 5_000;
const METADATA_TTL_MS = 60 * 60 * 1000;
/** A provider's answers are small; a larger one is refused rather than read. */
const MAX_RESPONSE_BYTES = 256 * 1024;
// Asymmetric signatures only: an HS256 ID token would be signed with our own client secret.
const ID_TOKEN_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
];

export class ProviderError extends DomainError {
  constructor(detail: string) {
    super(502, "oidc_provider_error", detail);
  }
}

interface Metadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
}

export interface VerifiedIdentity {
  subject: string;
  email: string | undefined;
  emailVerified: boolean;
  preferredUsername: string | undefined;
}

async function fetchJson(url: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  let response: Response;
  try {
    // No redirects: a provider that answers with one is misconfigured (or steering us elsewhere).
    response = await fetch(url, {
      ...init,
      redirect: "error",
      signal: AbortSignal.timeout(OUTBOUND_TIMEOUT_MS),
    });
  } catch {
    throw new ProviderError("The identity provider did not answer");
  }
  const text = await response.text();
  if (text.length > MAX_RESPONSE_BYTES)
    throw new ProviderError("The identity provider's answer is too large");
  try {
    return { status: response.status, body: JSON.parse(text) };
  } catch {
    throw new ProviderError("The identity provider's answer is not JSON");
  }
}

const httpUrl = (value: unknown): value is string => typeof value === "string" && /^https?:\/\//.test(value);

/**
 * One configured provider: its discovery document and keys (cached), the authorization
 * request, the code exchange and the ID token's validation (signature against the provider's
 * JWKS, iss, aud, exp, nonce).
 */
export function createOidcProviderClient(provider: OidcProviderConfig, redirectUri: string) {
  let metadata: { value: Metadata; until: number } | undefined;
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;

  async function discover(): Promise<Metadata> {
    if (metadata && metadata.until > Date.now()) return metadata.value;
    const { status, body } = await fetchJson(
      `${provider.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`,
    );
    const doc = body as Partial<Metadata>;
    if (
      status !== 200 ||
      !httpUrl(doc.authorization_endpoint) ||
      !httpUrl(doc.token_endpoint) ||
      !httpUrl(doc.jwks_uri)
    )
      throw new ProviderError("The identity provider's discovery document is unusable");
    // A document naming another issuer is refused (ASVS 10.5.3): it could be impersonating one.
    if (doc.issuer !== provider.issuer) throw new ProviderError("The identity provider names another issuer");
    metadata = { value: doc as Metadata, until: Date.now() + METADATA_TTL_MS };
    jwks = createRemoteJWKSet(new URL(doc.jwks_uri), {
      timeoutDuration: OUTBOUND_TIMEOUT_MS,
      cooldownDuration: 30_000,
      cacheMaxAge: METADATA_TTL_MS,
    });
    return metadata.value;
  }

  return {
    name: provider.name,
    issuer: provider.issuer,

    async authorizationUrl(input: { state: string; nonce: string; codeChallenge: string }): Promise<string> {
      const url = new URL((await discover()).authorization_endpoint);
      url.search = new URLSearchParams({
        response_type: "code",
        client_id: provider.clientId,
        redirect_uri: redirectUri,
        // Only what sign-in needs (ASVS 10.2.3).
        scope: "openid email profile",
        state: input.state,
        nonce: input.nonce,
        code_challenge: input.codeChallenge,
        code_challenge_method: "S256",
      }).toString();
      return url.toString();
    },

    /** Redeems the code (with the PKCE verifier) and validates the ID token it returns. */
    async redeem(code: string, codeVerifier: string, nonce: string): Promise<VerifiedIdentity> {
      const meta = await discover();
      const { status, body } = await fetchJson(meta.token_endpoint, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          authorization: `Basic ${Buffer.from(
            `${encodeURIComponent(provider.clientId)}:${encodeURIComponent(provider.clientSecret)}`,
          ).toString("base64")}`,
        },
        body: new URLSearchParams({
          grant_type: "authorization_code",
          code,
          redirect_uri: redirectUri,
          code_verifier: codeVerifier,
        }).toString(),
      });
      const idToken = (body as { id_token?: unknown }).id_token;
      if (status !== 200 || typeof idToken !== "string")
        throw new ProviderError("The identity provider refused the code");
      try {
        const { payload } = await jwtVerify(idToken, jwks as ReturnType<typeof createRemoteJWKSet>, {
          issuer: provider.issuer,
          audience: provider.clientId,
          algorithms: ID_TOKEN_ALGORITHMS,
          requiredClaims: ["sub", "exp", "iat"],
          clockTolerance: 30,
        });
        // The nonce binds the ID token to this sign-in (ASVS 10.5.1): a replayed token fails.
        if (payload.nonce !== nonce) throw new ProviderError("The ID token is not for this sign-in");
        if (typeof payload.sub !== "string" || payload.sub.length === 0 || payload.sub.length > 255)
          throw new ProviderError("The ID token has no usable subject");
        const email =
          typeof payload.email === "string" && payload.email.length <= 320 ? payload.email : undefined;
        return {
          subject: payload.sub,
          email,
          // Only an explicit true counts: "true" as a string, or no claim, is unverified.
          emailVerified: payload.email_verified === true,
          preferredUsername:
            typeof payload.preferred_username === "string" ? payload.preferred_username : undefined,
        };
      } catch (error) {
        if (error instanceof ProviderError) throw error;
        if (error instanceof joseErrors.JOSEError)
          throw new ProviderError(`The ID token is not valid (${error.code})`);
        throw error;
      }
    },
  };
}

export type OidcProviderClient = ReturnType<typeof createOidcProviderClient>;

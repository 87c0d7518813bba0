import type { TokenPair } from "./auth.service.js";

/** A token pair as OAuth2 clients expect it. */
export const toTokenResponse = (pair: TokenPair) => ({
  access_token: pair.accessToken,
  token_type: "bearer" as const,
  expires_in: pair.expiresIn,
  refresh_token: pair.refreshToken,
  scope: pair.scopes.join(" "),
});

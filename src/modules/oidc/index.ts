import type { Platform } from "../../platform/platform.js";
import type { AuthModule } from "../auth/index.js";
import type { FeatureModule } from "../feature-module.js";
import { createIdentitiesRepository } from "./identities.repository.js";
import { oidcRoutes } from "./oidc.routes.js";
import { createOidcService, type OidcAccounts } from "./oidc.service.js";
import { createOidcProviderClient } from "./oidc-provider-client.js";

export interface OidcModuleDeps extends Pick<Platform, "config" | "database" | "cache"> {
  accounts: OidcAccounts;
  auth: AuthModule["services"];
  /** The one-time sign-in code's life, when not the default 60 s (tests). */
  signInCodeTtlMs?: number | undefined;
}

/** Sign-in with OpenID Connect providers (OIDC_PROVIDERS), and the identities linked to accounts. */
export function createOidcModule(deps: OidcModuleDeps) {
  const { oidc } = deps.config;
  const providers = new Map(
    oidc.providers.map((provider) => [
      provider.name,
      createOidcProviderClient(
        provider,
        `${oidc.callbackBaseUrl}/api/v1/auth/oidc/${provider.name}/callback`,
      ),
    ]),
  );
  const oidcService = createOidcService({
    providers,
    cache: deps.cache,
    identities: createIdentitiesRepository(deps.database.db),
    accounts: deps.accounts,
    authService: deps.auth.authService,
    signInCodeTtlMs: deps.signInCodeTtlMs,
  });
  return {
    routes: async (api) => {
      await api.register(oidcRoutes, {
        oidcService,
        returnUrl: oidc.returnUrl,
        secureCookie: oidc.callbackBaseUrl.startsWith("https:"),
        refreshCookieMaxAgeSeconds: deps.auth.refreshCookieMaxAgeSeconds,
      });
    },
    services: {},
  } satisfies FeatureModule<object>;
}

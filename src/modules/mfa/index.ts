import type { SecurityLog } from "../../http/security-log.js";
import type { Platform } from "../../platform/platform.js";
import type { SecondFactor } from "../auth/auth.service.js";
import type { AuthModule } from "../auth/index.js";
import type { FeatureModule } from "../feature-module.js";
import { createMfaRepository, type MfaRepository } from "./mfa.repository.js";
import { mfaRoutes } from "./mfa.routes.js";
import { createMfaService, type MfaAccounts } from "./mfa.service.js";
import { createSecretBox } from "./secret-box.js";

/**
 * Who has MFA on, built before the modules: auth asks it after every first factor, and the
 * MFA module (built after auth) manages it with auth's sessions and throttles.
 */
export function createMfaEnrolments(deps: Pick<Platform, "database">): MfaRepository & SecondFactor {
  const repository = createMfaRepository(deps.database.db);
  return { ...repository, isEnrolled: (userId) => repository.isEnabled(userId) };
}

export interface MfaModuleDeps {
  enrolments: MfaRepository;
  accounts: MfaAccounts;
  auth: AuthModule["services"];
}

/** TOTP two-factor authentication: enrolment, recovery codes, the second step of sign-in. */
export function createMfaModule(deps: MfaModuleDeps) {
  const { auth } = deps;
  const mfaService = createMfaService({
    mfaRepository: deps.enrolments,
    secretBox: createSecretBox(auth.signingKeys),
    accounts: deps.accounts,
    passwordHasher: auth.passwordHasher,
    credentialThrottle: auth.credentialThrottle,
    pendingSignIns: auth.pendingSignIns,
    authService: auth.authService,
    refreshTokensRepository: auth.refreshTokensRepository,
    sessionRevocations: auth.sessionRevocations,
  });
  return {
    routes: async (api) => {
      await api.register(mfaRoutes, {
        mfaService,
        refreshCookieMaxAgeSeconds: auth.refreshCookieMaxAgeSeconds,
      });
    },
    services: {
      mfaService,
      /** For other modules' re-authentication (the users module's account deletion). */
      reauthentication: {
        isEnabled: (userId: number) => deps.enrolments.isEnabled(userId),
        spend: (userId: number, code: string, context: { address: string; log: SecurityLog }) =>
          mfaService.spendForReauthentication(userId, code, context.address, context.log),
      },
    },
  } satisfies FeatureModule<object>;
}

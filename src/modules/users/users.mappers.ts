import type { Account, User } from "./users.repository.js";
import type { Profile } from "./users.service.js";

/** What the user themself (and admins) see of an account: the sign-up answer. */
export const toUserAccount = (user: Omit<Account, "balance">) => ({
  id: user.id,
  email: user.email,
  username: user.username,
  role: user.role,
  email_verified: user.emailVerifiedAt !== null,
  created_at: user.createdAt.toISOString(),
});

/** The caller's own account, with the balance. */
export const toMe = (user: Account) => ({ ...toUserAccount(user), balance: user.balance });

/** What admins see in the user list and after a change. */
export const toAdminUser = (user: User) => ({
  ...toMe(user),
  is_active: user.isActive,
  updated_at: user.updatedAt.toISOString(),
});

/** A profile as the caller may see it: email and role only for themself and admins. */
export const toProfile = (user: Profile, seesPrivateFields: boolean) => ({
  id: user.id,
  username: user.username,
  ...(seesPrivateFields ? { email: user.email, role: user.role, email_verified: user.emailVerified } : {}),
  created_at: user.createdAt.toISOString(),
});

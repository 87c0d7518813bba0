import { BadRequestError } from "../../shared/errors.js";
import type { Role } from "../../shared/roles.js";

export type { Role };

export const SCOPES = {
  "posts:write": "Create, edit and delete your posts",
  "files:write": "Upload and delete your files",
  "transfers:write": "Send credits",
  admin: "Administer users and credits (admins only)",
} as const;

export type Scope = keyof typeof SCOPES;

const ROLE_SCOPES: Record<Role, Scope[]> = {
  user: ["posts:write", "files:write", "transfers:write"],
  admin: ["posts:write", "files:write", "transfers:write", "admin"],
};

export const isScope = (value: string): value is Scope => Object.hasOwn(SCOPES, value);

/**
 * The scopes a token gets: everything the role allows when none are asked for, otherwise
 * exactly the ones asked for — each of which the role must allow.
 */
export function grantScopes(role: Role, requested: string | undefined): Scope[] {
  const allowed = ROLE_SCOPES[role];
  const asked = (requested ?? "").split(" ").filter((s) => s !== "");
  if (asked.length === 0) return [...allowed];
  const granted: Scope[] = [];
  for (const scope of asked) {
    if (!isScope(scope) || !allowed.includes(scope)) {
      throw new BadRequestError(
        "invalid_scope",
        `Scope "${scope.slice(0, 40)}" is unknown or not allowed for this account`,
      );
    }
    if (!granted.includes(scope)) granted.push(scope);
  }
  return granted;
}

/** Scopes stored with a session, re-checked against the user's current role on refresh. */
export function stillAllowed(role: Role, scopes: string[]): Scope[] {
  return scopes.filter((s): s is Scope => isScope(s) && ROLE_SCOPES[role].includes(s));
}

import { readFileSync } from "node:fs";
import { BadRequestError } from "../../shared/errors.js";

// The 10,000 most common passwords (lower case), shipped with Kaira; where it comes from
// and its licence are in resources/common-passwords.LICENSE. Same depth from src/ and dist/.
const COMMON_PASSWORDS_FILE = new URL("../../../resources/common-passwords.txt", import.meta.url);

// Context words shorter than this are left out: a one-letter email name would otherwise
// forbid every password containing that letter.
const MIN_CONTEXT_WORD_LENGTH = 3;

let commonPasswords: ReadonlySet<string> | undefined;

/** Loaded once, on first use (a few hundred KB), then kept. */
function loadCommonPasswords(): ReadonlySet<string> {
  commonPasswords ??= new Set(
    readFileSync(COMMON_PASSWORDS_FILE, "utf8")
      .split("\n")
      .map((line) => line.trim().toLowerCase())
      .filter((line) => line !== "" && !line.startsWith("#")),
  );
  return commonPasswords;
}

export class WeakPasswordError extends BadRequestError {
  constructor(detail: string) {
    super("weak_password", detail);
  }
}

/**
 * ASVS 6.2.4 and 6.2.11: a password may be neither one of the 10,000 most common ones
 * (compared without case) nor contain the account's username or its email's local part.
 * Length (8–128) is checked by the request schema before this runs.
 */
export function assertPasswordAllowed(password: string, account: { email: string; username: string }): void {
  const lowered = password.toLowerCase();
  if (loadCommonPasswords().has(lowered)) {
    throw new WeakPasswordError("This password is one of the most common passwords; choose another");
  }
  const localPart = account.email.slice(0, Math.max(0, account.email.lastIndexOf("@")));
  for (const word of [account.username, localPart]) {
    const needle = word.trim().toLowerCase();
    if (needle.length >= MIN_CONTEXT_WORD_LENGTH && lowered.includes(needle)) {
      throw new WeakPasswordError("The password must not contain your username or the name of your email");
    }
  }
}

// What a URL may carry that logs and traces must not: credentials in its query string.

// Query parameters whose values are credentials, by name: access_token, id_token, api_key,
// client_secret, password, signature, code (OAuth), session, ticket, jwt, auth...
const SECRET_PARAMETER =
  /token|secret|passw|api[-_]?key|^key$|signature|^sig$|^code$|auth|jwt|session|ticket/i;
// Values shaped like a credential are redacted whatever their parameter is called: a JWT, or
// 32 random bytes in base64url (43 characters, as refresh tokens are). Each word of a value is
// tested on its own (`Bearer <jwt>`), with anchored patterns, so the check stays linear.
const JWT_SHAPE = /^eyJ[\w-]*\.[\w-]*\.[\w-]*$/;
const RANDOM_TOKEN_SHAPE = /^[\w-]{43}$/;
const looksLikeCredential = (text: string) =>
  text.split(/[^\w.-]+/).some((word) => JWT_SHAPE.test(word) || RANDOM_TOKEN_SHAPE.test(word));

const decoded = (text: string) => {
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return text; // malformed escapes: judge the raw text
  }
};

/**
 * The URL as logged or traced: credential-looking query values replaced by `[redacted]`.
 * Tokens do not belong in URLs, but a client that puts one there must not have it copied
 * into the logs or the traces.
 */
export function redactUrl(url: string): string {
  const query = url.indexOf("?");
  if (query === -1) return url;
  const pairs = url
    .slice(query + 1)
    .split("&")
    .map((pair) => {
      const equals = pair.indexOf("=");
      if (equals === -1) return looksLikeCredential(decoded(pair)) ? "[redacted]" : pair;
      const name = pair.slice(0, equals);
      return SECRET_PARAMETER.test(decoded(name)) || looksLikeCredential(decoded(pair.slice(equals + 1)))
        ? `${name}=[redacted]`
        : pair;
    });
  return `${url.slice(0, query)}?${pairs.join("&")}`;
}

import { Type } from "typebox";

/** Error responses in route schemas point at the one shared Problem component. */
export const ProblemRef = Type.Unsafe<unknown>(Type.Ref("Problem"));

/** Error responses of the token endpoints: a Problem plus OAuth2's `error`/`error_description`. */
export const OAuthProblemRef = Type.Unsafe<unknown>(Type.Ref("OAuthProblem"));

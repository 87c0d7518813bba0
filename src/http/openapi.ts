import { Type } from "typebox";

/** Error responses in route schemas point at the one shared Problem component. */
export const ProblemRef = Type.Unsafe<unknown>(Type.Ref("Problem"));

import { Type } from "typebox";

export const LivenessSchema = Type.Object({ status: Type.Literal("ok") });

const CheckSchema = Type.Object({
  status: Type.Union([Type.Literal("pass"), Type.Literal("warn"), Type.Literal("fail")], {
    description: "`warn` is worth a look but does not make the instance unready",
  }),
  latency_ms: Type.Optional(Type.Number()),
  error: Type.Optional(Type.String()),
  message: Type.Optional(Type.String({ description: "What a `warn` means and what to do" })),
});

export const ReadinessSchema = Type.Object(
  {
    status: Type.Union([Type.Literal("pass"), Type.Literal("fail")]),
    draining: Type.Boolean(),
    checks: Type.Record(Type.String(), CheckSchema),
  },
  { title: "Readiness" },
);

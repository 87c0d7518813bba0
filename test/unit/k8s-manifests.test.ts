import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain ES module script without type declarations
import { validateKustomization } from "../../scripts/validate-k8s.mjs";

const K8S_DIR = new URL("../../deploy/k8s", import.meta.url).pathname;

type Result = { problems: string[]; objects: { object: { kind: string } }[] };

describe("deploy/k8s", () => {
  it("validates against the Kubernetes schemas with consistent references", async () => {
    const { problems, objects } = (await validateKustomization(K8S_DIR)) as Result;
    expect(problems).toEqual([]);
    expect(objects.map((o) => o.object.kind).sort()).toEqual(
      [
        "ConfigMap",
        "Deployment",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Ingress",
        "Job",
        "Namespace",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
        "Secret",
        "Service",
      ].sort(),
    );
  });

  it("catches a schema violation and a dangling reference", async () => {
    const copy = mkdtempSync(join(tmpdir(), "kaira-k8s-"));
    cpSync(K8S_DIR, copy, { recursive: true });
    const deployment = join(copy, "api-deployment.yaml");
    writeFileSync(
      deployment,
      readFileSync(deployment, "utf8")
        .replace("containerPort: 9000", 'containerPort: "nine thousand"')
        .replace("name: kaira-config", "name: kaira-settings"),
    );
    const { problems } = (await validateKustomization(copy)) as Result;
    expect(problems.join("\n")).toMatch(/containerPort must be integer/);
    expect(problems.join("\n")).toMatch(/ConfigMap kaira-settings is not defined/);
  });
});

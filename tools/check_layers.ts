/**
 * Check the project's import structure, as `deno info --json` resolves it
 * (static, type-only, re-exported and dynamic imports alike):
 *
 * - `lib/` keeps its layers: an import goes to the same layer or a lower one
 *   ({@link LAYERS}, bottom first; files directly in `lib/`, `mod.ts`, are
 *   above them all), never out of `lib/` to a project file, and no files
 *   import each other in a cycle (a type-only cycle is still a cycle);
 * - `lib/` reaches the engine only through its package, `@ch5/engine`;
 * - the engine (`engine/`, its tests included) imports no file outside
 *   `engine/`: it is a package of its own.
 *
 * Packages (`@tensorflow/tfjs`, `npm:...`, `node:...`) are not checked.
 * Run `deno run -A tools/check_layers.ts [root]` (default: the project root):
 * it prints every violation with file and line, and exits with 1 when there
 * is any.
 *
 * @example
 * ```ts
 * import { checkLayers, formatReport } from "./check_layers.ts";
 * console.log(formatReport(await checkLayers(".")));
 * ```
 * @module
 */
import { join, relative, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The layer folders of lib/, bottom to top. Files directly in lib/ are the top. */
export const LAYERS: readonly string[] = ["io", "notebook", "preprocessing", "data", "models", "training", "viz"];

/** One import of a project file by another, as `deno info` resolved it. */
export interface Edge {
  /** The importing file, relative to the root (`lib/io/fs.ts`). */
  from: string;
  /** The imported file, same form. */
  to: string;
  /** The specifier as written (`../io/fs.ts`, `@ch5/engine`). */
  specifier: string;
  /** 1-based line of the specifier. */
  line: number;
}

/** An import against the rules, with the rule it breaks. */
export interface Violation extends Edge {
  why: string;
}

/** What {@link checkLayers} found. */
export interface LayerReport {
  /** Files checked. */
  files: number;
  violations: Violation[];
  /** Each cycle in lib/ as the files along it, the first file repeated at the end. */
  cycles: string[][];
  /** Files in a folder of lib/ that is not a layer. */
  unknownFolders: string[];
}

/** Raised when the root has no lib/ folder, or `deno info` fails. */
export class CheckLayersError extends Error {
  override name = "CheckLayersError";
}

async function listTs(dir: string): Promise<string[]> {
  const out: string[] = [];
  const info = await Deno.stat(dir).catch(() => null);
  if (!info?.isDirectory) return out;
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) out.push(...await listTs(path));
    else if (/\.(ts|tsx|mts)$/.test(e.name) && !e.name.endsWith(".d.ts")) out.push(path);
  }
  return out.sort();
}

interface InfoModule {
  specifier: string;
  dependencies?: {
    specifier: string;
    code?: { specifier?: string; span: { start: { line: number } } };
    type?: { specifier?: string; span: { start: { line: number } } };
  }[];
}

/**
 * Every import between project files among `files`, resolved by one
 * `deno info --json` over an entry module that imports them all (written to
 * `<root>/build/` and removed again).
 */
export async function importEdges(root: string, files: string[]): Promise<Edge[]> {
  const build = join(root, "build");
  await Deno.mkdir(build, { recursive: true });
  const entry = join(build, `check_layers_entry_${Deno.pid}.ts`);
  await Deno.writeTextFile(entry, files.map((f) => `import ${JSON.stringify(pathToFileURL(f).href)};\n`).join(""));
  try {
    const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json", entry], cwd: root }).output();
    if (!out.success) {
      throw new CheckLayersError(`deno info failed: ${new TextDecoder().decode(out.stderr).trim().slice(0, 600)}`);
    }
    const modules = (JSON.parse(new TextDecoder().decode(out.stdout)).modules ?? []) as InfoModule[];
    const show = (url: string) => relative(root, fileURLToPath(url)).split(sep).join("/");
    const edges: Edge[] = [];
    for (const m of modules) {
      if (!m.specifier.startsWith("file:") || m.specifier === pathToFileURL(entry).href) continue;
      for (const d of m.dependencies ?? []) {
        for (const target of [d.code, d.type]) {
          if (!target?.specifier?.startsWith("file:")) continue;
          edges.push({
            from: show(m.specifier),
            to: show(target.specifier),
            specifier: d.specifier,
            line: target.span.start.line + 1,
          });
          break; // one edge per import, whether it carries code, types or both
        }
      }
    }
    return edges;
  } finally {
    await Deno.remove(entry).catch(() => {});
  }
}

/** The layer of a path under lib/ (`lib/io/fs.ts` → `io`; `lib/mod.ts` → `lib`), or undefined outside lib/. */
function layerOf(path: string): string | undefined {
  const parts = path.split("/");
  if (parts[0] !== "lib") return undefined;
  return parts.length === 2 ? "lib" : parts[1];
}

function rank(layer: string): number {
  return layer === "lib" ? LAYERS.length : LAYERS.indexOf(layer);
}

/** The rule an edge breaks, or undefined. */
function ruleBroken(e: Edge): string | undefined {
  const fromEngine = e.from.startsWith("engine/"), toEngine = e.to.startsWith("engine/");
  if (fromEngine) return toEngine ? undefined : "the engine must not import files outside engine/";
  const fromLayer = layerOf(e.from);
  if (fromLayer === undefined) return undefined; // tools, tests, bench: not checked
  if (toEngine) {
    return e.specifier === "@ch5/engine" ? undefined : "lib must reach the engine through its package, @ch5/engine";
  }
  const toLayer = layerOf(e.to);
  if (toLayer === undefined) return "lib must not import files outside lib/";
  if (rank(toLayer) < 0) return `${toLayer} is not a layer`;
  if (rank(toLayer) > rank(fromLayer)) return `a lower layer (${fromLayer}) must not import a higher one (${toLayer})`;
  return undefined;
}

/** Strongly connected components with more than one file (or a file importing itself), Tarjan's algorithm. */
function cyclicComponents(graph: Map<string, Set<string>>): string[][] {
  let index = 0;
  const indices = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [];
  const onStack = new Set<string>(), out: string[][] = [];
  const visit = (v: string) => {
    indices.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indices.get(w)!));
    }
    if (low.get(v) === indices.get(v)) {
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
  for (const v of [...graph.keys()].sort()) if (!indices.has(v)) visit(v);
  return out.sort((a, b) => a[0].localeCompare(b[0]));
}

/** One cycle through a component, from its first file back to it (breadth-first, so the shortest). */
function cycleThrough(comp: string[], graph: Map<string, Set<string>>): string[] {
  const inside = new Set(comp), start = comp[0];
  const previous = new Map<string, string>();
  const queue = [...(graph.get(start) ?? [])].filter((w) => inside.has(w)).sort();
  for (const w of queue) previous.set(w, start);
  while (queue.length && !previous.has(start)) {
    const v = queue.shift()!;
    for (const w of [...(graph.get(v) ?? [])].sort()) {
      if (inside.has(w) && !previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  const path = [start];
  for (let v = previous.get(start)!; v !== start; v = previous.get(v)!) path.unshift(v);
  return [start, ...path];
}

/**
 * Check `lib/` and `engine/` under `root` against the rules of this module.
 *
 * @example
 * ```ts
 * import { checkLayers } from "./check_layers.ts";
 * const { violations, cycles } = await checkLayers(".");
 * console.log(violations.length + cycles.length === 0 ? "layers ok" : "layers broken");
 * ```
 * @throws {CheckLayersError} when `root` has no lib/ folder, or `deno info` fails.
 */
export async function checkLayers(root = "."): Promise<LayerReport> {
  const base = resolve(root);
  const lib = await listTs(join(base, "lib"));
  if (!lib.length) {
    throw new CheckLayersError(`check_layers: ${root} has no lib/ folder; run it from the project root`);
  }
  const files = [...lib, ...await listTs(join(base, "engine"))];
  const edges = await importEdges(base, files);
  const graph = new Map<string, Set<string>>();
  for (const e of edges) {
    if (layerOf(e.from) !== undefined && layerOf(e.to) !== undefined) {
      if (!graph.has(e.from)) graph.set(e.from, new Set());
      graph.get(e.from)!.add(e.to);
    }
  }
  const violations = edges.flatMap((e) => {
    const why = ruleBroken(e);
    return why ? [{ ...e, why }] : [];
  });
  const unknownFolders = lib.map((f) => relative(base, f).split(sep).join("/"))
    .filter((f) => rank(layerOf(f)!) < 0);
  const cycles = cyclicComponents(graph).map((comp) => cycleThrough(comp, graph));
  return { files: files.length, violations, cycles, unknownFolders };
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
 * console.log(formatReport(await checkLayers(".")));
 * ```
 */
export function formatReport(report: LayerReport): string {
  const order = [...LAYERS, "lib (top)"].join(" < ");
  const lines = report.violations.map((v) => `${v.from}:${v.line}: imports ${v.to}: ${v.why}`);
  for (const c of report.cycles) lines.push(`import cycle: ${c.join(" -> ")}`);
  for (const f of report.unknownFolders) {
    lines.push(`${f}: its folder is not a layer; move it into one of ${LAYERS.join(", ")} or add the folder to LAYERS`);
  }
  const problems = report.violations.length + report.cycles.length + report.unknownFolders.length;
  lines.push(
    problems === 0
      ? `layers ok: ${report.files} files, order ${order}, no cycles; the engine imports only itself`
      : `layers broken: ${report.violations.length} import(s) against the rules, ${report.cycles.length} cycle(s), ` +
        `${report.unknownFolders.length} file(s) outside the layers`,
  );
  return lines.join("\n");
}

if (import.meta.main) {
  try {
    const report = await checkLayers(Deno.args[0] ?? ".");
    const text = formatReport(report);
    if (layersOk(report)) console.log(text);
    else {
      console.error(text);
      Deno.exit(1);
    }
  } catch (err) {
    if (!(err instanceof CheckLayersError)) throw err;
    console.error(err.message);
    Deno.exit(2);
  }
}

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { checkLayers, findImports, formatReport, LAYERS, layersOk } from "../tools/check_layers.ts";

/** Write `files` (path relative to a temp folder → source) and return the temp folder's lib/. */
async function tree(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "check_layers_" });
  for (const [path, src] of Object.entries(files)) {
    await Deno.mkdir(dirname(join(dir, path)), { recursive: true });
    await Deno.writeTextFile(join(dir, path), src);
  }
  return join(dir, "lib");
}

Deno.test("findImports: every way a file depends on another, and nothing in comments or strings", () => {
  const src = [
    'import * as tf from "@tensorflow/tfjs";',
    'import { a, type B } from "./a.ts";',
    'import type { C } from "../models/c.ts";',
    "import {",
    "  d,",
    '} from "./d.ts";',
    'export * from "./e.ts";',
    'export type { F } from "./f.ts";',
    'export { g as h } from "./g.ts";',
    'import "./side.ts";',
    'const lazy = await import("./lazy.ts");',
    '// import { no } from "./comment.ts";',
    '/** @example import { no } from "./jsdoc.ts"; */',
    "const s = \"import { no } from './string.ts'\";",
    'const t = `import { no } from "./template.ts" ${"x" + `y${1}`}`;',
    'const re = /import "\\.\\/re.ts"/;',
    "export const value = 1;",
    "const url = import.meta.url;",
  ].join("\n");
  assert.deepEqual(findImports(src), [
    { specifier: "@tensorflow/tfjs", line: 1, kind: "import" },
    { specifier: "./a.ts", line: 2, kind: "import" },
    { specifier: "../models/c.ts", line: 3, kind: "import type" },
    { specifier: "./d.ts", line: 6, kind: "import" },
    { specifier: "./e.ts", line: 7, kind: "export from" },
    { specifier: "./f.ts", line: 8, kind: "export from" },
    { specifier: "./g.ts", line: 9, kind: "export from" },
    { specifier: "./side.ts", line: 10, kind: "import" },
    { specifier: "./lazy.ts", line: 11, kind: "import()" },
  ]);
});

Deno.test("checkLayers: an import from a lower layer to a higher one fails, with file, line and both layers", async () => {
  const lib = await tree({
    "lib/io/fs.ts": 'import { fit } from "../training/fit.ts";\nexport const x = fit;\n',
    "lib/training/fit.ts": 'import type { Y } from "../viz/y.ts";\nexport const fit = 1;\n',
    "lib/viz/y.ts": 'import { x } from "../io/fs.ts";\nexport type Y = typeof x;\n',
    "lib/mod.ts": 'export * from "./viz/y.ts";\nexport * from "./io/fs.ts";\n',
  });
  try {
    const report = await checkLayers(lib);
    assert.equal(report.files, 4);
    assert.deepEqual(report.violations, [
      {
        from: "lib/io/fs.ts",
        fromLayer: "io",
        to: "lib/training/fit.ts",
        toLayer: "training",
        line: 1,
        kind: "import",
      },
      {
        from: "lib/training/fit.ts",
        fromLayer: "training",
        to: "lib/viz/y.ts",
        toLayer: "viz",
        line: 1,
        kind: "import type",
      },
    ]);
    assert.equal(layersOk(report), false);
    const text = formatReport(report);
    assert.match(
      text,
      /lib\/io\/fs\.ts:1: import lib\/training\/fit\.ts: a lower layer \(io\) must not import a higher one \(training\)/,
    );
    assert.match(text, /layers broken: 2 import\(s\)/);
    // The three files also import each other in a circle.
    assert.deepEqual(report.cycles, [["lib/io/fs.ts", "lib/training/fit.ts", "lib/viz/y.ts", "lib/io/fs.ts"]]);
  } finally {
    await Deno.remove(dirname(lib), { recursive: true });
  }
});

Deno.test("checkLayers: cycles inside one layer (type-only too), lib/mod.ts as the top, imports out of lib", async () => {
  const lib = await tree({
    "lib/preprocessing/a.ts": 'import type { B } from "./b.ts";\nexport type A = B;\n',
    "lib/preprocessing/b.ts": 'import { c } from "./c.ts";\nexport type B = number;\nexport const b = c;\n',
    "lib/preprocessing/c.ts": 'import type { A } from "./a.ts";\nexport const c: A = 1;\n',
    "lib/preprocessing/d.ts": 'import { dataPath } from "../io/p.ts";\nexport const d = dataPath;\n',
    "lib/io/p.ts": 'export const dataPath = "";\n',
    "lib/models/m.ts":
      'import { all } from "../mod.ts";\nimport { t } from "../../tools/t.ts";\nexport const m = [all, t];\n',
    "lib/mod.ts": 'export * from "./models/m.ts";\nexport const all = 1;\n',
    "lib/extra/z.ts": "export const z = 1;\n",
  });
  try {
    const report = await checkLayers(lib);
    assert.deepEqual(
      report.violations.map((v) => `${v.from}:${v.line} -> ${v.to} (${v.toLayer})`),
      ["lib/models/m.ts:1 -> lib/mod.ts (lib)", "lib/models/m.ts:2 -> tools/t.ts (outside)"],
    );
    assert.deepEqual(report.cycles, [
      ["lib/mod.ts", "lib/models/m.ts", "lib/mod.ts"],
      ["lib/preprocessing/a.ts", "lib/preprocessing/b.ts", "lib/preprocessing/c.ts", "lib/preprocessing/a.ts"],
    ]);
    assert.deepEqual(report.unknownFolders, ["lib/extra/z.ts"]);
    assert.match(formatReport(report), /lib\/extra\/z\.ts: its folder is not a layer/);
  } finally {
    await Deno.remove(dirname(lib), { recursive: true });
  }
});

Deno.test("check_layers CLI: exits 1 and lists the violation; a missing folder is a clear error", async () => {
  const lib = await tree({
    "lib/io/a.ts": 'export * from "../viz/b.ts";\n',
    "lib/viz/b.ts": "export const b = 1;\n",
  });
  try {
    const tool = new URL("../tools/check_layers.ts", import.meta.url).pathname;
    const run = (arg: string) => new Deno.Command(Deno.execPath(), { args: ["run", "-A", tool, arg] }).output();
    const bad = await run(lib);
    assert.equal(bad.code, 1);
    const err = new TextDecoder().decode(bad.stderr);
    assert.match(
      err,
      /lib\/io\/a\.ts:1: export from lib\/viz\/b\.ts: a lower layer \(io\) must not import a higher one \(viz\)/,
    );
    const missing = await run(join(lib, "nope"));
    assert.notEqual(missing.code, 0);
    assert.match(new TextDecoder().decode(missing.stderr), /is not a folder/);
  } finally {
    await Deno.remove(dirname(lib), { recursive: true });
  }
});

Deno.test("the project's lib keeps its layers: no upward import, no cycle, every folder a layer", async () => {
  const lib = new URL("../lib", import.meta.url).pathname;
  const report = await checkLayers(lib);
  assert.ok(report.files > 30, `only ${report.files} files found under ${lib}`);
  const folders = new Set<string>();
  for await (const e of Deno.readDir(lib)) if (e.isDirectory) folders.add(e.name);
  assert.deepEqual([...folders].sort(), [...LAYERS].sort());
  assert.ok(layersOk(report), formatReport(report));
});

Deno.test("docs/ARCHITECTURE.md gives every lib file one line, under its layer", async () => {
  const root = new URL("..", import.meta.url).pathname;
  const doc = await Deno.readTextFile(join(root, "docs/ARCHITECTURE.md"));
  const documented: string[] = [];
  let layer = "";
  for (const line of doc.split("\n")) {
    const head = line.match(/^\*\*`lib\/([a-z_]+)`\*\*/);
    if (head) layer = head[1];
    const item = line.match(/^- `([\w.]+\.ts)` — /);
    if (item && layer) documented.push(`lib/${layer}/${item[1]}`);
  }
  const actual: string[] = [];
  for (const name of LAYERS) {
    for await (const e of Deno.readDir(join(root, "lib", name))) {
      if (e.isFile && e.name.endsWith(".ts")) actual.push(`lib/${name}/${e.name}`);
    }
  }
  const missing = actual.filter((f) => !documented.includes(f)).sort();
  const stale = documented.filter((f) => !actual.includes(f)).sort();
  assert.deepEqual(
    { missing, stale },
    { missing: [], stale: [] },
    "add a line `- \\`file.ts\\` — its job.` under the file's layer in docs/ARCHITECTURE.md (or remove a stale one)",
  );
});

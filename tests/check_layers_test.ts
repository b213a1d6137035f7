import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { checkLayers, formatReport, LAYERS, layersOk } from "../tools/check_layers.ts";

/** Write `files` (path relative to a temp folder → source) and return the temp folder. */
async function tree(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "check_layers_" });
  for (const [path, src] of Object.entries(files)) {
    await Deno.mkdir(dirname(join(dir, path)), { recursive: true });
    await Deno.writeTextFile(join(dir, path), src);
  }
  return dir;
}

Deno.test("checkLayers: an upward import fails with file, line and both layers, however it is written", async () => {
  const root = await tree({
    "lib/io/fs.ts":
      '// import { no } from "../viz/comment.ts";\nimport { fit } from "../training/fit.ts";\nexport const x = fit;\n',
    "lib/training/fit.ts": 'import type { Y } from "../viz/y.ts";\nexport const fit = 1;\nexport type Z = Y;\n',
    "lib/viz/y.ts": 'export type Y = number;\nexport const lazy = () => import("./z.ts");\n',
    "lib/viz/z.ts": "export const z = 1;\n",
    "lib/io/w.ts": 'export * from "../viz/z.ts";\n',
    "lib/mod.ts": 'export * from "./viz/y.ts";\nexport * from "./io/fs.ts";\n',
  });
  try {
    const report = await checkLayers(root);
    assert.equal(report.files, 6);
    assert.deepEqual(report.violations.map((v) => `${v.from}:${v.line} ${v.to}: ${v.why}`).sort(), [
      "lib/io/fs.ts:2 lib/training/fit.ts: a lower layer (io) must not import a higher one (training)",
      "lib/io/w.ts:1 lib/viz/z.ts: a lower layer (io) must not import a higher one (viz)",
      "lib/training/fit.ts:1 lib/viz/y.ts: a lower layer (training) must not import a higher one (viz)",
    ]);
    assert.deepEqual(report.cycles, []);
    assert.ok(!layersOk(report));
    assert.match(formatReport(report), /layers broken: 3 import\(s\) against the rules, 0 cycle\(s\)/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("checkLayers: cycles (type-only too), lib/mod.ts as the top, imports out of lib, folders that are no layer", async () => {
  const root = await tree({
    "lib/preprocessing/a.ts": 'import type { B } from "./b.ts";\nexport type A = B;\n',
    "lib/preprocessing/b.ts": 'import { c } from "./c.ts";\nexport type B = number;\nexport const b = c;\n',
    "lib/preprocessing/c.ts": 'import type { A } from "./a.ts";\nexport const c: A = 1;\n',
    "lib/preprocessing/d.ts": 'import { dataPath } from "../io/p.ts";\nexport const d = dataPath;\n',
    "lib/io/p.ts": 'export const dataPath = "";\n',
    "lib/models/m.ts":
      'import { all } from "../mod.ts";\nimport { t } from "../../tools/t.ts";\nexport const m = [all, t];\n',
    "lib/mod.ts": 'export * from "./models/m.ts";\nexport const all = 1;\n',
    "lib/extra/z.ts": "export const z = 1;\n",
    "tools/t.ts": "export const t = 1;\n",
  });
  try {
    const report = await checkLayers(root);
    assert.deepEqual(report.violations.map((v) => `${v.from}:${v.line} -> ${v.to}: ${v.why}`), [
      "lib/models/m.ts:1 -> lib/mod.ts: a lower layer (models) must not import a higher one (lib)",
      "lib/models/m.ts:2 -> tools/t.ts: lib must not import files outside lib/",
    ]);
    assert.deepEqual(report.cycles, [
      ["lib/mod.ts", "lib/models/m.ts", "lib/mod.ts"],
      ["lib/preprocessing/a.ts", "lib/preprocessing/b.ts", "lib/preprocessing/c.ts", "lib/preprocessing/a.ts"],
    ]);
    assert.deepEqual(report.unknownFolders, ["lib/extra/z.ts"]);
    assert.match(formatReport(report), /lib\/extra\/z\.ts: its folder is not a layer/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("checkLayers: the engine imports only itself, and lib reaches it only through @ch5/engine", async () => {
  const root = await tree({
    "deno.json": JSON.stringify({ workspace: ["./engine"] }),
    "engine/deno.json": JSON.stringify({ name: "@ch5/engine", version: "0.0.0", exports: "./mod.ts" }),
    "engine/mod.ts": 'export { run } from "./run.ts";\n',
    "engine/run.ts": 'import { dataPath } from "../lib/io/p.ts";\nexport const run = dataPath;\n',
    "engine/tests/run_test.ts": 'import { run } from "../run.ts";\nimport "../../tests/x.ts";\nexport const r = run;\n',
    "lib/io/p.ts": 'export const dataPath = "";\n',
    "lib/models/m.ts": 'import { run } from "@ch5/engine";\nimport { run as deep } from "../../engine/run.ts";\n' +
      "export const m = [run, deep];\n",
    "tests/x.ts": "export {};\n",
  });
  try {
    const report = await checkLayers(root);
    assert.deepEqual(report.violations.map((v) => `${v.from}:${v.line} -> ${v.to}: ${v.why}`).sort(), [
      "engine/run.ts:1 -> lib/io/p.ts: the engine must not import files outside engine/",
      "engine/tests/run_test.ts:2 -> tests/x.ts: the engine must not import files outside engine/",
      "lib/models/m.ts:2 -> engine/run.ts: lib must reach the engine through its package, @ch5/engine",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("check_layers CLI: exits 1 and lists the violation; a root without lib/ is a clear error", async () => {
  const root = await tree({
    "lib/io/a.ts": 'export * from "../viz/b.ts";\n',
    "lib/viz/b.ts": "export const b = 1;\n",
  });
  try {
    const tool = new URL("../tools/check_layers.ts", import.meta.url).pathname;
    const run = (arg: string) => new Deno.Command(Deno.execPath(), { args: ["run", "-A", tool, arg] }).output();
    const bad = await run(root);
    assert.equal(bad.code, 1);
    assert.match(
      new TextDecoder().decode(bad.stderr),
      /lib\/io\/a\.ts:1: imports lib\/viz\/b\.ts: a lower layer \(io\) must not import a higher one \(viz\)/,
    );
    const missing = await run(join(root, "nope"));
    assert.equal(missing.code, 2);
    assert.match(new TextDecoder().decode(missing.stderr), /has no lib\/ folder/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the project keeps its layers: no upward import, no cycle, every folder a layer, the engine on its own", async () => {
  const root = new URL("..", import.meta.url).pathname;
  const lib = join(root, "lib");
  const report = await checkLayers(root);
  assert.ok(report.files > 30, `only ${report.files} files found under ${root}`);
  const folders = new Set<string>();
  for await (const e of Deno.readDir(lib)) if (e.isDirectory) folders.add(e.name);
  assert.deepEqual([...folders].sort(), [...LAYERS].sort());
  assert.ok(layersOk(report), formatReport(report));
});

Deno.test("docs/ARCHITECTURE.md gives every lib and engine file one line, under its layer", async () => {
  const root = new URL("..", import.meta.url).pathname;
  const doc = await Deno.readTextFile(join(root, "docs/ARCHITECTURE.md"));
  const documented: string[] = [];
  let layer = "";
  for (const line of doc.split("\n")) {
    const head = line.match(/^\*\*`lib\/([a-z_]+)`\*\*/);
    if (head) layer = `lib/${head[1]}`;
    if (line === "## The engine") layer = "engine";
    const item = line.match(/^- `([\w.]+\.ts)` — /);
    if (item && layer) documented.push(`${layer}/${item[1]}`);
  }
  const actual: string[] = [];
  for await (const e of Deno.readDir(join(root, "engine"))) {
    if (e.isFile && e.name.endsWith(".ts")) actual.push(`engine/${e.name}`);
  }
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

Deno.test("the workbook pins the same tfjs as the engine (one tfjs in the process)", async () => {
  const root = new URL("..", import.meta.url).pathname;
  const rootImports = JSON.parse(await Deno.readTextFile(join(root, "deno.json"))).imports as Record<string, string>;
  const engine = JSON.parse(await Deno.readTextFile(join(root, "engine/deno.json"))).imports as Record<string, string>;
  for (const [name, pin] of Object.entries(rootImports)) {
    if (name in engine) assert.equal(pin, engine[name], `${name}: deno.json and engine/deno.json must agree`);
  }
  assert.ok("@tensorflow/tfjs" in engine);
});

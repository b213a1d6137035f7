/**
 * lib/mod.ts is the workbook's small public face: named exports only (no
 * `export *`), at most 60 of them, and every name the notebooks import from it
 * exists there.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as mod from "../lib/mod.ts";

const root = new URL("..", import.meta.url).pathname;

Deno.test("lib/mod.ts lists its names one by one, at most 60 (types included)", async () => {
  const src = await Deno.readTextFile(join(root, "lib/mod.ts"));
  assert.doesNotMatch(src, /export \*/, "no export *: name each export");
  const names = [...src.matchAll(/export (?:type )?\{([^}]*)\}/g)]
    .flatMap((m) => m[1].split(",").map((n) => n.trim().replace(/^type /, "")).filter(Boolean));
  assert.equal(new Set(names).size, names.length, "each name once");
  assert.ok(names.length <= 60, `${names.length} public names`);
});

Deno.test("every name a notebook imports from lib/mod.ts is exported there", async () => {
  for await (const e of Deno.readDir(join(root, "notebooks"))) {
    if (!e.name.endsWith(".ipynb")) continue;
    const nb = JSON.parse(await Deno.readTextFile(join(root, "notebooks", e.name)));
    for (const cell of nb.cells) {
      const src = [cell.source].flat().join("");
      for (const m of src.matchAll(/import\s*\{([^}]*)\}\s*from\s*"\.\.\/lib\/mod\.ts"/g)) {
        for (const name of m[1].split(",").map((n) => n.trim()).filter((n) => n && !n.startsWith("type "))) {
          assert.ok(name in mod, `${e.name} imports ${name}, which lib/mod.ts does not export`);
        }
      }
    }
  }
});

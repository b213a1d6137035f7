/**
 * Committed notebooks must carry no outputs: executed copies belong in
 * `build/notebooks/`. `deno task check` runs this; the tests call
 * {@link notebookProblems} too.
 *
 * @module
 */
import { basename } from "node:path";
import { sourceNotebooks } from "./execute.ts";

/** What is wrong with one committed notebook (empty when nothing is). */
export function notebookProblems(text: string): string[] {
  const problems: string[] = [];
  const doc = JSON.parse(text);
  if (doc.metadata?.kernelspec?.name !== "deno") problems.push("its kernelspec is not the Deno kernel");
  for (const [i, cell] of (doc.cells ?? []).entries()) {
    if (cell.cell_type !== "code") continue;
    if ((cell.outputs ?? []).length) problems.push(`cell ${i} carries outputs`);
    if (cell.execution_count !== null) problems.push(`cell ${i} has an execution count`);
  }
  return problems;
}

if (import.meta.main) {
  let failed = false;
  for (const path of await sourceNotebooks()) {
    for (const problem of notebookProblems(await Deno.readTextFile(path))) {
      console.error(
        `${basename(path)}: ${problem}. Clear its outputs (Jupyter: Edit → Clear All Outputs) before committing.`,
      );
      failed = true;
    }
  }
  if (failed) Deno.exit(1);
  console.log("notebooks: no outputs committed");
}

/**
 * The native kernel tests (`tests/native_kernels_cases.ts`) under every
 * instruction set this CPU has, as oneDNN dispatches them: oneDNN picks other
 * implementations for SSE4.1, AVX, AVX2 and AVX-512, and a defect may live in
 * one of them only (oneDNN#6035 lives in the AVX2 one). Each ISA runs in its
 * own process, capped with `ONEDNN_MAX_CPU_ISA` (read once, when oneDNN
 * loads), on one thread and on two: a machine checks its own ISA and every
 * one below it.
 */
import assert from "node:assert/strict";
import { ISA_NAMES, loadOneDnn, OneDnnError } from "../onednn.ts";

const CASES = new URL("./native_kernels_cases.ts", import.meta.url).pathname;
/** The caps, lowest first, with oneDNN's mask for each (`dnnl_cpu_isa_t`). */
const CAPS: [cap: string, mask: number][] = [["SSE41", 0x1], ["AVX", 0x3], ["AVX2", 0x7], ["AVX512_CORE", 0x27]];

let machineIsa: number | undefined;
try {
  const name = loadOneDnn().isa;
  machineIsa = Number(Object.entries(ISA_NAMES).find(([, n]) => n === name)?.[0]);
} catch (err) {
  if (!(err instanceof OneDnnError && /not found/.test(err.message))) throw err;
  console.warn(`native kernel tests skipped: ${err.message}`);
}

for (const [cap, mask] of CAPS) {
  // A cap above what the CPU has would run the CPU's own ISA again.
  const ignore = machineIsa === undefined || (machineIsa & mask) !== mask;
  for (const threads of [1, 2]) {
    Deno.test({
      name: `native kernels match cpu with ONEDNN_MAX_CPU_ISA=${cap} on ${threads} thread${threads > 1 ? "s" : ""}`,
      ignore,
      async fn() {
        const child = await new Deno.Command(Deno.execPath(), {
          args: ["test", "-A", "--no-check", CASES],
          env: { ONEDNN_MAX_CPU_ISA: cap, CH5_WASM_THREADS: String(threads), NO_COLOR: "1" },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const output = new TextDecoder().decode(child.stdout) + new TextDecoder().decode(child.stderr);
        const tail = output.split("\n").filter((l) => !/^(=+|Hi, looks like|$)/.test(l)).slice(-40).join("\n");
        assert.equal(child.code, 0, `the kernel tests failed under ${cap}, ${threads} thread(s):\n${tail}`);
        const ran = output.match(/ONEDNN_ISA=(\S+) THREADS=(\d+)/);
        assert.ok(ran, `the kernel tests did not report their ISA:\n${tail}`);
        assert.equal(ran[1], ISA_NAMES[mask], "oneDNN ran the ISA of the cap");
        assert.equal(Number(ran[2]), threads, "oneDNN ran the threads asked for");
      },
    });
  }
}

/**
 * HDF5 files through h5wasm (its Node build reads the real file system, so a
 * file is never copied whole into memory): open a file with a clear error when
 * it is missing, not HDF5 or damaged, and list what it holds.
 *
 * @module
 */
import * as h5wasm from "h5wasm/node";
import { resolve } from "node:path";
import { ModelFileError } from "./errors.ts";
import { h5ProbeMs } from "./profile.ts";

export type { Dataset, File as H5File, Group } from "h5wasm/node";

/**
 * The most telling line of an HDF5 error stack (h5wasm's throwing handler
 * puts the whole "HDF5-DIAG" stack in the message): the innermost
 * `... in FUNC(): what` line, e.g. `truncated file: eof = 4096, ..., stored_eof = 1304048`.
 */
export function hdf5Reason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const lines = [...text.matchAll(/in [A-Za-z0-9_]+\(\): (.+)/g)].map((m) => m[1].trim());
  return lines.length ? lines[lines.length - 1] : text.split("\n")[0].trim();
}

/** The 8-byte signature an HDF5 file starts with (or carries at 512, 1024, ... after a user block). */
const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Whether `path` is a file that starts with the HDF5 signature (at offset 0,
 * or 512, 1024, 2048, … after a user block, as the format allows).
 */
export async function isHdf5File(path: string): Promise<boolean> {
  if (!(await Deno.stat(path).then((i) => i.isFile, () => false))) return false;
  using file = await Deno.open(path, { read: true });
  const bytes = new Uint8Array(4096 + SIGNATURE.length);
  let filled = 0;
  while (filled < bytes.length) {
    const n = await file.read(bytes.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  for (let at = 0; at + SIGNATURE.length <= filled; at = at === 0 ? 512 : at * 2) {
    if (SIGNATURE.every((b, i) => bytes[at + i] === b)) return true;
  }
  return false;
}

let throwing = false;

/**
 * Wait for h5wasm's WebAssembly module (once per process). HDF5's errors are
 * switched to JavaScript exceptions (h5wasm's throwing handler), so a damaged
 * file is an error here instead of ~50 lines of "HDF5-DIAG" on stderr and a
 * confusing failure later.
 */
export async function h5Ready(): Promise<typeof h5wasm> {
  const module = await h5wasm.ready;
  if (!throwing) {
    (module as unknown as { activate_throwing_error_handler(): number }).activate_throwing_error_handler();
    throwing = true;
  }
  return h5wasm;
}

/**
 * Open an HDF5 file. For reading, the path must exist and be HDF5: the error
 * says which of the two failed, with the absolute path.
 */
export async function openH5(
  path: string,
  mode: "r" | "w" | "a" = "r",
  options: { probe?: boolean } = {},
): Promise<h5wasm.File> {
  const h5 = await h5Ready();
  const absolute = resolve(path);
  if (mode !== "w") {
    const info = await Deno.stat(absolute).catch(() => {
      throw new ModelFileError(`No file at ${absolute}: check the path (relative paths start at ${Deno.cwd()}).`);
    });
    if (!info.isFile) throw new ModelFileError(`${absolute} is not a file: give the path of an .h5 file.`);
    if (!(await isHdf5File(absolute))) {
      const what = info.size === 0 ? "an empty file" : "not an HDF5 file (no HDF5 signature)";
      throw new ModelFileError(
        `${absolute} is ${what}. Give a Keras .h5 file (written by model.save() or model.save_weights()); ` +
          `a download that failed may have left an HTML page or a partial file: delete it and fetch it again.`,
      );
    }
  }
  if (mode === "r" && (options.probe ?? true)) await probeH5(absolute);
  let file: h5wasm.File;
  try {
    file = new h5.File(absolute, mode);
  } catch (err) {
    throw damaged(absolute, mode, hdf5Reason(err));
  }
  // h5wasm does not throw for every failed open: it hands back a file whose id is negative.
  if (Number(file.file_id) < 0) throw damaged(absolute, mode, "HDF5 could not open it");
  return file;
}

function damaged(path: string, mode: string, reason: string): ModelFileError {
  if (mode !== "r") return new ModelFileError(`HDF5 could not open ${path} for writing (${reason}): check the folder.`);
  return new ModelFileError(
    `${path} is damaged or incomplete (HDF5: ${reason}). It is not a whole HDF5 file: an interrupted download ` +
      `or copy? Fetch or copy it again (or save the model again).`,
  );
}

/** A plain JavaScript value of an HDF5 attribute. */
export type AttrValue = string | number | bigint | boolean | string[] | number[] | null;

/** One node of the tree {@link readH5} returns: its path in the file, attributes, a dataset's shape and dtype, a group's children. */
export interface H5Node {
  path: string;
  kind: "group" | "dataset" | "other";
  attrs: Record<string, AttrValue>;
  shape?: number[];
  dtype?: string;
  children?: Record<string, H5Node>;
}

/**
 * Decode an attribute value to plain JavaScript: strings stay strings, arrays
 * of strings become `string[]`, typed arrays become `number[]` (an empty
 * array for Keras' empty `weight_names`).
 */
export function plainValue(value: unknown): AttrValue {
  if (value === null || value === undefined) return null;
  if (["string", "number", "bigint", "boolean"].includes(typeof value)) return value as AttrValue;
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>, Number);
  if (Array.isArray(value)) {
    return value.every((v) => typeof v === "string") ? value as string[] : value.map((v) => Number(v));
  }
  return String(value);
}

const attrsOf = (entity: { attrs: Record<string, { value: unknown }> }): Record<string, AttrValue> =>
  Object.fromEntries(Object.entries(entity.attrs).map(([name, attr]) => [name, plainValue(attr.value)]));

function nodeOf(entity: h5wasm.Group | h5wasm.Dataset | null, path: string): H5Node {
  if (entity instanceof h5wasm.Dataset) {
    return { path, kind: "dataset", attrs: attrsOf(entity), shape: entity.shape ?? [], dtype: String(entity.dtype) };
  }
  if (entity instanceof h5wasm.Group) {
    const children: Record<string, H5Node> = {};
    for (const key of entity.keys()) {
      const child = entity.get(key) as h5wasm.Group | h5wasm.Dataset | null;
      children[key] = nodeOf(child, path === "/" ? `/${key}` : `${path}/${key}`);
    }
    return { path, kind: "group", attrs: attrsOf(entity), children };
  }
  return { path, kind: "other", attrs: {} };
}

/**
 * The structure of an HDF5 file: groups, datasets (shape and dtype, not the
 * data) and every attribute, as a tree of {@link H5Node}.
 */
export async function readH5(path: string, options: { probe?: boolean } = {}): Promise<H5Node> {
  const file = await openH5(path, "r", options);
  try {
    return nodeOf(file, "/");
  } finally {
    file.close();
  }
}

const AGAIN = "Fetch or copy the file again (or save the model again).";

/** Files (path, size, time) that were probed, or checked against a hash, and found good: not probed again. */
const knownGood = new Set<string>();

async function fileKey(path: string): Promise<string | undefined> {
  const info = await Deno.stat(path).catch(() => undefined);
  return info?.isFile ? `${resolve(path)}\0${info.size}\0${info.mtime?.getTime()}` : undefined;
}

/**
 * Record that a file was checked against a known hash (a manifest, Keras'
 * md5), so {@link openH5} need not probe it. A later change of its size or
 * time makes it unknown again.
 */
export async function markH5Verified(path: string): Promise<void> {
  const key = await fileKey(path);
  if (key) knownGood.add(key);
}

/**
 * Read a file's whole structure in a worker first, with a time limit: HDF5
 * can loop forever on some damaged metadata (one flipped bit in an attribute
 * heap), and only a worker can be stopped. Once per file and process; files
 * checked against a hash ({@link markH5Verified}) skip it.
 *
 * @throws {ModelFileError} when HDF5 fails or does not finish reading the structure in time.
 */
async function probeH5(path: string, limitMs = h5ProbeMs()): Promise<void> {
  const key = await fileKey(path);
  if (key && knownGood.has(key)) return;
  const worker = new Worker(new URL("./h5_probe_worker.ts", import.meta.url).href, { type: "module" });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const answer = await new Promise<{ ok: boolean; name?: string; message?: string }>((ok, fail) => {
      const why = `HDF5 did not finish reading its structure in ${limitMs / 1000} s (damaged metadata can make it ` +
        `loop forever)`;
      timer = setTimeout(() => fail(new ModelFileError(`${path} is damaged: ${why}. ${AGAIN}`)), limitMs);
      worker.onmessage = (event) => ok(event.data);
      worker.postMessage({ path });
      worker.onerror = (event) => {
        event.preventDefault();
        ok({ ok: false, name: "Error", message: event.message });
      };
    });
    if (answer.ok) {
      if (key) knownGood.add(key);
      return;
    }
    if (answer.name === "ModelFileError") throw new ModelFileError(answer.message ?? "damaged");
    const why = hdf5Reason(new Error(answer.message));
    throw new ModelFileError(`${path} is damaged: HDF5 failed reading its structure (${why}). ${AGAIN}`);
  } finally {
    clearTimeout(timer);
    worker.terminate();
  }
}

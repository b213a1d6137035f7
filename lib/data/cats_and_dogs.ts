/**
 * The book's small cats-vs-dogs split (listing 5.4), built once from a source
 * (`split_source.ts`, `split_build.ts`) and checked at each use
 * (`split_verify.ts`).
 *
 * @module
 */
import { join, resolve } from "node:path";
import { DataError } from "../io/errors.ts";
import { describeFsError, statOrNull, writeAtomically } from "../io/fs.ts";
import { dataPath, setting } from "../io/profile.ts";
import { interruptible, KeyboardInterrupt } from "../notebook/interrupt.ts";
import { buildSplit } from "./split_build.ts";
import {
  checkOutside,
  findSource,
  PETIMAGES_URL,
  planSource,
  resolveSource,
  type SkippedFile,
  type SourceKind,
} from "./split_source.ts";
import { checkSplit, describeCounts, type SplitCounts } from "./split_verify.ts";

/** Options of {@link ensureCatsAndDogs}. */
export interface EnsureCatsAndDogsOptions {
  /**
   * Folder or zip to build from; relative paths are tried from the current
   * folder, then from the repository root. Default `CH5_DATA_SOURCE`; `null`
   * (or neither) downloads {@link PETIMAGES_URL}.
   */
  source?: string | null;
  /** Where the split goes (default `data/cats_and_dogs_small`, under `CH5_DATA_DIR` when set). */
  dest?: string;
  /** Archive to download when there is no source (default {@link PETIMAGES_URL}). */
  url?: string;
  /** Hard-link the source's files instead of copying them: editing a picture of the split then edits the source. */
  link?: boolean;
  /** Where progress lines go (default `console.log`). */
  log?: (line: string) => void;
  /** Stops the build; the partial split is removed. */
  signal?: AbortSignal;
}

/**
 * The result of {@link ensureCatsAndDogs}: the split's folder, its counts per
 * subset and class, the files of the source that were skipped, whether this
 * call built it, and the source and its kind (from `source.json` when it was
 * already there).
 */
export interface EnsureCatsAndDogsResult {
  dir: string;
  counts: SplitCounts;
  skipped: SkippedFile[];
  built: boolean;
  source?: string;
  kind?: SourceKind;
}

type WithLog = EnsureCatsAndDogsOptions & { log: (line: string) => void };

/** A cheap fingerprint of a source, to tell later whether it changed: files, bytes, latest modification time. */
async function fingerprint(source: string): Promise<{ files: number; bytes: number; mtime: number }> {
  const fp = { files: 0, bytes: 0, mtime: 0 };
  const walk = async (path: string) => {
    const info = await Deno.stat(path);
    if (info.isDirectory) {
      for await (const e of Deno.readDir(path)) await walk(join(path, e.name));
    } else if (info.isFile) {
      fp.files++;
      fp.bytes += info.size;
      fp.mtime = Math.max(fp.mtime, info.mtime?.getTime() ?? 0);
    }
  };
  await walk(source);
  return fp;
}

/**
 * Make sure the book's small split exists:
 * `data/cats_and_dogs_small/{train,validation,test}/{cats,dogs}` with pictures
 * 0–999 of each class for training, 1000–1499 for validation and 1500–1999 for
 * testing. It is built from the `source` option, else `CH5_DATA_SOURCE`, else
 * a download of the PetImages archive, in a temporary folder renamed into
 * place at the end (an interrupted build leaves nothing half-built). An
 * existing split is checked cheaply, with a note when another source is asked
 * for or its source changed since.
 *
 * @example
 * ```ts
 * import { ensureCatsAndDogs } from "./cats_and_dogs.ts";
 * const { dir, built, skipped } = await ensureCatsAndDogs();
 * console.log(built ? `built ${dir}, ${skipped.length} files skipped` : `${dir} was already there`);
 * ```
 * @throws {DataError} for a source that is missing, empty, not recognised or
 * has too few readable pictures, a damaged or incomplete split, a destination
 * that cannot be written, and when offline without a source.
 * @throws {SettingError} for a `CH5_DATA_DIR` or `CH5_DATA_SOURCE` that cannot be used.
 */
export async function ensureCatsAndDogs(options: EnsureCatsAndDogsOptions = {}): Promise<EnsureCatsAndDogsResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const dest = resolve(options.dest ?? dataPath("cats_and_dogs_small")), withLog = { ...options, log };
  try {
    const present = await statOrNull(dest);
    if (present && !present.isDirectory) {
      throw new DataError(
        `the destination ${dest} is a file, not a folder: pass another --dest (or CH5_DATA_DIR), or move that file away.`,
      );
    }
    if (present) return await useExisting(dest, withLog);
    if (options.signal) return await build(dest, withLog);
    return await buildInterruptibly(dest, withLog);
  } catch (err) {
    const fs = describeFsError(err, dest);
    if (fs) throw new DataError(`cannot build the split at ${dest}: ${fs}`, { cause: err });
    throw err;
  }
}

/** The split already there: checked, with a note when another source is asked for, or its source changed. */
async function useExisting(dest: string, options: WithLog): Promise<EnsureCatsAndDogsResult> {
  const log = options.log;
  const counts = await checkSplit(dest, log);
  const record = await Deno.readTextFile(join(dest, "source.json")).then(JSON.parse, () => ({}));
  const asked = options.source === undefined ? setting("CH5_DATA_SOURCE") : options.source;
  if (asked && record.source) {
    const wanted = await resolveSource(asked).catch(() => resolve(asked));
    const was = record.sourceFingerprint;
    const now = wanted === record.source && was && (await statOrNull(wanted)) ? await fingerprint(wanted) : undefined;
    if (wanted !== record.source) {
      log(
        `cats_and_dogs: NOTE: ${dest} was built from ${record.source}, not from ${wanted} (--from / ` +
          `CH5_DATA_SOURCE); the existing split is used. Delete it (or pass another --dest) to build from ${wanted}.`,
      );
    } else if (now && (now.files !== was.files || now.bytes !== was.bytes || now.mtime !== was.mtime)) {
      log(
        `cats_and_dogs: NOTE: the source ${wanted} changed since ${dest} was built (${was.files} files, ` +
          `${was.bytes} bytes then; ${now.files} files, ${now.bytes} bytes now); the existing split is used. ` +
          `Delete it to rebuild from the changed source.`,
      );
    }
  }
  log(`cats_and_dogs_small: already there at ${dest} (${describeCounts(counts)}); nothing to do`);
  return { dir: dest, counts, skipped: record.skipped ?? [], built: false, source: record.source, kind: record.kind };
}

async function build(dest: string, options: WithLog): Promise<EnsureCatsAndDogsResult> {
  const log = options.log;
  const source = await findSource(options.source, options.url ?? PETIMAGES_URL, log, options.signal);
  await checkOutside(dest, source);
  if (options.link) {
    log(
      `cats_and_dogs: NOTE: --link: the split's pictures will be hard links to ${source}: editing a picture of ` +
        `the split then edits the source's picture too. Build without --link to get independent copies.`,
    );
  }
  const sourceFingerprint = await fingerprint(source);
  let result: EnsureCatsAndDogsResult | undefined;
  await writeAtomically(dest, async (tmp) => {
    await Deno.mkdir(tmp);
    const plan = await planSource(source, join(tmp, ".source"), options.signal);
    log(`cats_and_dogs: building ${dest} from the ${plan.description}`);
    const report = await buildSplit(tmp, source, plan, { ...options, record: { sourceFingerprint } });
    await Deno.remove(join(tmp, ".source"), { recursive: true }).catch(() => {});
    log(
      `cats_and_dogs: built ${dest} (${describeCounts(report.counts)}) from the ${plan.description}` +
        `${report.skipped.length ? `; skipped ${report.skipped.length} files (listed in source.json)` : ""}`,
    );
    result = { dir: dest, counts: report.counts, skipped: report.skipped, built: true, source, kind: plan.kind };
  }, (line) => log(`cats_and_dogs: ${line}`));
  return result!;
}

/** {@link build} in a notebook: Interrupt (SIGINT) stops it cleanly and keeps the kernel (see `interrupt.ts`). */
async function buildInterruptibly(dest: string, options: WithLog): Promise<EnsureCatsAndDogsResult> {
  return await interruptible(async (signal) => {
    try {
      return await build(dest, { ...options, signal });
    } catch (err) {
      if (!signal.aborted) throw err;
      throw new KeyboardInterrupt(
        `Interrupted while building ${dest}; nothing was left half-built. Run again to build it`,
      );
    }
  });
}

/**
 * Build the book's cats-vs-dogs split from a source's {@link Plan}: decode
 * each candidate once, take the first readable ones, record what was skipped.
 *
 * @module
 */
import { join } from "node:path";
import { DataError, PictureError } from "../io/errors.ts";
import { loadImg } from "../preprocessing/image.ts";
import { type Candidate, PICTURE_LIST, type Plan, type SkippedFile, SOURCE_HELP } from "./split_source.ts";
import {
  CLASSES,
  countSplit,
  describeCounts,
  expectedCounts,
  SPLIT,
  type SplitCounts,
  SUBSETS,
  writeSplitManifest,
} from "./split_verify.ts";

/** Options of {@link buildSplit}: hard-link instead of copying, progress lines, a stop signal, more for `source.json`. */
export interface BuildOptions {
  link?: boolean;
  log?: (line: string) => void;
  signal?: AbortSignal;
  record?: Record<string, unknown>;
}

/** What {@link buildSplit} did (`linked`: some picture is a hard link to the source's). */
export interface BuildReport {
  counts: SplitCounts;
  skipped: SkippedFile[];
  linked: boolean;
}

/** Why a candidate cannot be taken, or `undefined` when it decodes. */
function unreadable(c: Candidate): Promise<string | undefined> {
  return loadImg(c.path).then(() => undefined, (err) => {
    if (!(err instanceof PictureError)) return (err as Error).message;
    return /empty file/.test(err.message) ? "empty file (0 bytes)" : err.message.replace(`: ${err.path}`, "");
  });
}

/** The build's running state: where pictures go, and what it reports. */
class Placer {
  placed = 0;
  linked = false;
  readonly skipped: SkippedFile[] = [];
  readonly renamed: Record<string, string> = {};
  readonly total = SPLIT.test[1] * CLASSES.length;
  #link: boolean;
  constructor(readonly folder: string, readonly plan: Plan, readonly options: BuildOptions) {
    this.#link = options.link ?? false;
  }
  log(line: string) {
    (this.options.log ?? console.log)(`cats_and_dogs: ${line}`);
  }

  async #place(c: Candidate, to: string): Promise<void> {
    if (c.owned) return await Deno.rename(c.path, to);
    if (this.#link) {
      try {
        await Deno.link(c.path, to);
        this.linked = true;
        return;
      } catch {
        this.#link = false; // another file system, or links not allowed: copy from now on
        this.log(`cannot hard-link ${c.path} into the split (another file system?); copying instead`);
      }
    }
    await Deno.copyFile(c.path, to);
  }

  /** Fill `targets` (folder, name) in order with the first readable pictures of `list`, 16 decoded at a time. */
  async fill(list: Candidate[], targets: { folder: string; name?: (c: Candidate) => string }[], what: string) {
    let next = 0;
    for (let index = 0; next < targets.length && index < list.length; index += 16) {
      this.options.signal?.throwIfAborted();
      const window = list.slice(index, index + 16);
      const reasons = await Promise.all(window.map(unreadable));
      for (let k = 0; k < window.length && next < targets.length; k++) {
        const c = window[k];
        if (reasons[k]) {
          this.skipped.push({ file: c.label, reason: reasons[k]! });
          this.log(`skipped ${c.label}: ${reasons[k]}`);
          continue;
        }
        const target = targets[next++];
        const name = target.name?.(c) ?? c.name;
        await this.#place(c, join(this.folder, target.folder, name));
        if (name !== c.name || this.plan.kind === "petimages") this.renamed[`${target.folder}/${name}`] = c.label;
        if (++this.placed % 500 === 0 || this.placed === this.total) {
          this.log(`${this.placed}/${this.total} pictures placed, ${this.skipped.length} skipped`);
        }
      }
    }
    if (next < targets.length) {
      const ignored = this.plan.ignored.length
        ? ` Ignored (not pictures flowFromDirectory reads, ${PICTURE_LIST}; convert them to .jpg or .png): ` +
          `${this.plan.ignored.slice(0, 5).join(", ")}${this.plan.ignored.length > 5 ? ", …" : ""}.`
        : "";
      throw new DataError(
        `the ${this.plan.description} has too few readable ${what} pictures: found ${next} of the ` +
          `${targets.length} needed (${list.length} candidates, ${list.length - next} skipped or unreadable).` +
          `${ignored} ${SOURCE_HELP}`,
      );
    }
  }
}

/** The target file name of a picture at `rank` of class `c` (the source's extension; `.jpeg` as `.jpg`). */
const rankName = (c: string, rank: number) => (p: Candidate) =>
  `${c.slice(0, 3)}.${rank}.${p.name.slice(p.name.lastIndexOf(".") + 1).toLowerCase().replace("jpeg", "jpg")}`;

/**
 * Fill `folder` with the split from `plan`. Every candidate is decoded before
 * it is taken, so empty, corrupt and non-picture files are skipped and
 * reported with the reason. Per class, the first 2000 readable pictures in
 * numeric order are named `cat.0.jpg` … `cat.1999.jpg` by rank (for Kaggle's
 * train folder exactly the book's files); a split source keeps its subsets
 * and names. Files are copied (unpacked ones moved), or hard-linked with
 * `link`. Then `manifest.json` (size, time, SHA-256 of every picture) and
 * `source.json` (the source; skipped, ignored and renamed files) are written.
 *
 * @throws {DataError} when a class has too few readable pictures (the ignored files named).
 */
export async function buildSplit(
  folder: string,
  source: string,
  plan: Plan,
  options: BuildOptions,
): Promise<BuildReport> {
  const placer = new Placer(folder, plan, options);
  placer.skipped.push(...plan.skipped);
  if (plan.ignored.length) {
    placer.log(
      `ignored ${plan.ignored.length} files that are not pictures flowFromDirectory reads (${PICTURE_LIST}): ` +
        `${plan.ignored.slice(0, 5).join(", ")}${plan.ignored.length > 5 ? ", …" : ""}`,
    );
  }
  for (const s of SUBSETS) for (const c of CLASSES) await Deno.mkdir(join(folder, s, c), { recursive: true });
  for (const c of CLASSES) {
    if (plan.kind === "split") {
      for (const s of SUBSETS) {
        const targets = Array.from({ length: SPLIT[s][1] - SPLIT[s][0] }, () => ({ folder: `${s}/${c}` }));
        await placer.fill(plan.lists.get(`${s}/${c}`) ?? [], targets, `${s}/${c}`);
      }
    } else {
      const targets = SUBSETS.flatMap((s) =>
        Array.from(
          { length: SPLIT[s][1] - SPLIT[s][0] },
          (_, i) => ({ folder: `${s}/${c}`, name: rankName(c, SPLIT[s][0] + i) }),
        )
      );
      await placer.fill(plan.lists.get(c) ?? [], targets, c.slice(0, 3));
    }
  }
  const counts = await countSplit(folder);
  if (describeCounts(counts) !== describeCounts(expectedCounts())) {
    throw new Error(`internal error: built ${describeCounts(counts)}, expected ${describeCounts(expectedCounts())}`);
  }
  options.signal?.throwIfAborted();
  await writeSplitManifest(folder);
  const record = {
    source,
    kind: plan.kind,
    description: plan.description,
    builtAt: new Date().toISOString(),
    linked: placer.linked,
    counts,
    skipped: placer.skipped,
    ignored: plan.ignored,
    renamed: placer.renamed,
    ...options.record,
  };
  await Deno.writeTextFile(join(folder, "source.json"), JSON.stringify(record, null, 1) + "\n");
  return { counts, skipped: placer.skipped, linked: placer.linked };
}

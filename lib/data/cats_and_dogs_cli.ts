/**
 * `deno task data [--from PATH] [--dest DIR] [--link] | --verify`: build the
 * book's split from a source, or check it. A failure is one line on stderr
 * naming the file or setting and the fix; Ctrl-C removes the half-built split.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ensureCatsAndDogs } from "./cats_and_dogs.ts";
import { PETIMAGES_URL } from "./split_source.ts";
import { verifyCatsAndDogs } from "./split_verify.ts";
import { DataError, DownloadError, PictureError, SettingError } from "../io/errors.ts";
import { describeFsError } from "../io/fs.ts";
import { checkSettings } from "../io/profile.ts";

const USAGE = `Usage: deno task data [--from PATH] [--dest DIR] [--link] [--url URL] | --verify [--dest DIR]

Builds data/cats_and_dogs_small/{train,validation,test}/{cats,dogs}: pictures 0-999
of each class train, 1000-1499 validate, 1500-1999 test (as in the book).

  --from PATH   a Kaggle train/ folder or zip (train.zip, dogs-vs-cats.zip), the
                Microsoft PetImages folder or zip, or an already split folder such as
                ../shared/datasets/cats_and_dogs_small. Default: CH5_DATA_SOURCE, else
                a download of ${PETIMAGES_URL}
  --dest DIR    where the split goes (default data/cats_and_dogs_small)
  --link        hard-link the source's files instead of copying them (no extra
                space; but editing a picture of the split then edits the source)
  --copy        copy the files (the default)
  --url URL     archive to download when there is no source
  --verify      check every picture of the split against its manifest (SHA-256)
  -h, --help    this text`;

const [str, on] = [{ type: "string" }, { type: "boolean" }] as const;
const OPTIONS = { from: str, dest: str, url: str, copy: on, link: on, verify: on, help: { ...on, short: "h" } };

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>["values"];

/** The options, or the exit code when there is nothing more to do (help, bad usage). */
function parse(args: string[]): Values | number {
  let values: Values;
  try {
    values = parseArgs({ args, options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.copy && values.link) {
    console.error(`--copy and --link contradict each other: pick one.\n\n${USAGE}`);
    return 2;
  }
  const empty = (["from", "dest", "url"] as const).find((name) => values[name] !== undefined && !values[name]!.trim());
  if (empty) {
    console.error(
      `error: --${empty} is empty: give a path${empty === "url" ? " (a URL)" : ""}, or leave --${empty} out.`,
    );
    return 2;
  }
  try {
    checkSettings();
    if (values.url !== undefined) new URL(values.url);
  } catch (err) {
    console.error(`error: ${err instanceof TypeError ? `--url ${values.url} is not a URL` : (err as Error).message}`);
    return 1;
  }
  return values;
}

/** Run the command with `args`; returns the exit code (0 done, 1 failed, 2 bad usage, 130 interrupted). */
export async function main(args: string[]): Promise<number> {
  const values = parse(args);
  if (typeof values === "number") return values;
  if (values.verify) {
    try {
      const { problems } = await verifyCatsAndDogs({ dest: values.dest });
      for (const p of problems) console.error(`damaged: ${p.file} (${p.problem})`);
      if (!problems.length) return 0;
      console.error(
        `error: ${problems.length} damaged pictures; delete the split and run deno task data to rebuild it.`,
      );
      return 1;
    } catch (err) {
      return reportError(err);
    }
  }
  const controller = new AbortController();
  const onSignal = () => {
    console.error("\ninterrupted: removing the half-built split ...");
    controller.abort(new Error("interrupted (Ctrl-C)"));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    const { from: source, dest, url, link } = values;
    const result = await ensureCatsAndDogs({ source, dest, url, link, signal: controller.signal });
    if (result.built && result.skipped.length) {
      console.log(`skipped files: ${result.skipped.map((s) => `${s.file} (${s.reason})`).join("; ")}`);
    }
    return 0;
  } catch (err) {
    if (!controller.signal.aborted) return reportError(err);
    console.error("interrupted; nothing was left half-built. Run again to build the split.");
    return 130;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
  }
}

/** One line on stderr for an error a user can meet; an unknown error keeps its stack (it is a bug). */
function reportError(err: unknown): number {
  const known = [DataError, DownloadError, PictureError, SettingError].some((E) => err instanceof E);
  const fs = known
    ? undefined
    : describeFsError(err, String((err as Error).message).match(/'([^']+)'/)?.[1] ?? "a file");
  if (!known && !fs) throw err;
  console.error(`error: ${fs ?? (err as Error).message}`);
  return 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

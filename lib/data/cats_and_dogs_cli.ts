/**
 * `deno task data`: build `data/cats_and_dogs_small` (the book's 2000/1000/1000
 * split) from a source, or say that it is already there.
 *
 * ```sh
 * deno task data                                           # CH5_DATA_SOURCE, else download PetImages
 * deno task data --from ../shared/datasets/cats_and_dogs_small
 * deno task data --from ~/Downloads/dogs-vs-cats.zip --dest /tmp/split
 * ```
 *
 * Ctrl-C stops cleanly: the half-built split is removed (a download stays
 * resumable).
 *
 * @example
 * ```ts
 * import { main } from "./cats_and_dogs_cli.ts";
 * Deno.exit(await main(["--from", "../shared/datasets/cats_and_dogs_small"]));
 * ```
 * @module
 */
import { parseArgs } from "node:util";
import { CatsAndDogsError, ensureCatsAndDogs, PETIMAGES_URL } from "./cats_and_dogs.ts";
import { DownloadError } from "../io/download.ts";
import { ZipError } from "../io/zip.ts";

const USAGE = `Usage: deno task data [--from PATH] [--dest DIR] [--copy] [--url URL]

Builds data/cats_and_dogs_small/{train,validation,test}/{cats,dogs}: pictures 0-999
of each class train, 1000-1499 validate, 1500-1999 test (as in the book).

  --from PATH   a Kaggle train/ folder or zip (train.zip, dogs-vs-cats.zip), the
                Microsoft PetImages folder or zip, or an already split folder such as
                ../shared/datasets/cats_and_dogs_small. Default: CH5_DATA_SOURCE, else
                a download of ${PETIMAGES_URL}
  --dest DIR    where the split goes (default data/cats_and_dogs_small)
  --copy        copy files instead of hard-linking them
  --url URL     archive to download when there is no source
  -h, --help    this text`;

/**
 * Run the command with `args`; returns the exit code (0 done, 1 failed, 2 bad usage, 130 interrupted).
 *
 * @example
 * ```ts
 * import { main } from "./cats_and_dogs_cli.ts";
 * await main(["--help"]);
 * ```
 */
export async function main(args: string[]): Promise<number> {
  let values: { from?: string; dest?: string; copy?: boolean; url?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        from: { type: "string" },
        dest: { type: "string" },
        copy: { type: "boolean" },
        url: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const controller = new AbortController();
  const onSignal = () => {
    console.error("\ninterrupted: removing the half-built split ...");
    controller.abort(new Error("interrupted (Ctrl-C)"));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    const result = await ensureCatsAndDogs({
      source: values.from,
      dest: values.dest,
      url: values.url,
      link: !values.copy,
      signal: controller.signal,
    });
    if (result.built && result.skipped.length) {
      console.log(`skipped files: ${result.skipped.map((s) => `${s.file} (${s.reason})`).join("; ")}`);
    }
    return 0;
  } catch (err) {
    if (controller.signal.aborted) {
      console.error("interrupted; nothing was left half-built. Run again to build the split.");
      return 130;
    }
    if (err instanceof CatsAndDogsError || err instanceof DownloadError || err instanceof ZipError) {
      console.error(`error: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));

import assert from "node:assert/strict";
import { join } from "node:path";
import { SettingError } from "../lib/io/errors.ts";
import { withEnv } from "./env_helpers.ts";
import {
  byProfile,
  checkSettings,
  dataPath,
  dirSetting,
  fileSetting,
  h5ProbeMs,
  profile,
  ROOT,
  setting,
  trainUntil,
} from "../lib/io/profile.ts";

Deno.test("CH5_PROFILE picks quick or full, and names the choices when wrong", () => {
  withEnv("CH5_PROFILE", undefined, () => assert.equal(profile(), "quick"));
  withEnv("CH5_PROFILE", " Full ", () => assert.equal(byProfile({ quick: 1, full: 2 }), 2));
  withEnv(
    "CH5_PROFILE",
    "fast",
    () => assert.throws(() => profile(), (e: Error) => e instanceof SettingError && /"quick".*"full"/.test(e.message)),
  );
});

Deno.test("CH5_TRAIN_UNTIL reads an ISO date and time, and refuses anything else", () => {
  withEnv("CH5_TRAIN_UNTIL", undefined, () => assert.equal(trainUntil(), undefined));
  withEnv("CH5_TRAIN_UNTIL", "2026-11-27T07:00Z", () => {
    assert.equal(trainUntil()?.toISOString(), "2026-11-27T07:00:00.000Z");
  });
  withEnv("CH5_TRAIN_UNTIL", "2026-11-27T07:00", () => {
    assert.equal(trainUntil()?.getTime(), new Date(2026, 10, 27, 7, 0).getTime());
  });
  withEnv("CH5_TRAIN_UNTIL", "2024-02-29T23:59+09:00", () => {
    assert.equal(trainUntil()?.toISOString(), "2024-02-29T14:59:00.000Z");
  });
  for (const bad of ["tomorrow", "7:00", "2026-11-27", "2026-13-45T99:00", "2026-11-27T07:00 junk"]) {
    withEnv(
      "CH5_TRAIN_UNTIL",
      bad,
      () => assert.throws(() => trainUntil(), (e: Error) => e instanceof SettingError && /ISO 8601/.test(e.message)),
    );
  }
});

Deno.test("CH5_TRAIN_UNTIL=2026-02-30 is refused, not read as 03-02; so are 24:00 and month 00", () => {
  for (
    const [bad, why] of [
      ["2026-02-30T07:00", /not a date on the calendar \(2026-02 has 28 days\)/],
      ["2025-04-31T07:00Z", /2025-04 has 30 days/],
      ["2026-00-10T07:00", /not a date on the calendar/],
      ["2026-02-10T24:00", /not a time of day/],
      ["2026-02-10T07:60", /not a time of day/],
    ] as const
  ) {
    withEnv("CH5_TRAIN_UNTIL", bad, () => {
      assert.throws(() => trainUntil(), (e: Error) => e instanceof SettingError && why.test(e.message));
      assert.throws(() => checkSettings(), (e: Error) => e instanceof SettingError && e.message.includes(bad));
    });
  }
});

Deno.test("a relative CH5_DATA_DIR / CH5_WEIGHTS_DIR is taken from the project root, not the current folder", () => {
  const cwd = Deno.cwd();
  Deno.chdir(join(ROOT, "tests"));
  try {
    withEnv("CH5_DATA_DIR", "build/relative-data", () => {
      assert.equal(dataPath("models"), join(ROOT, "build/relative-data/models"));
    });
    withEnv(
      "CH5_WEIGHTS_DIR",
      "build/w",
      () => assert.equal(dirSetting("CH5_WEIGHTS_DIR", "data/weights"), join(ROOT, "build/w")),
    );
    withEnv("CH5_DATA_DIR", undefined, () => assert.equal(dataPath(), join(ROOT, "data")));
  } finally {
    Deno.chdir(cwd);
  }
});

Deno.test("CH5_DATA_DIR naming a file, or a path through a file, is a SettingError that names the file", () => {
  const file = Deno.makeTempFileSync();
  try {
    withEnv("CH5_DATA_DIR", file, () => {
      assert.throws(
        () => dataPath("cats_and_dogs_small"),
        (e: Error) =>
          e instanceof SettingError && e.message.includes(`CH5_DATA_DIR=${file}`) &&
          /which is a file, not a folder/.test(e.message),
      );
    });
    // A folder below a file (/etc/passwd/x): the file in the way is named, not "check its permissions".
    withEnv("CH5_DATA_DIR", join(file, "x"), () => {
      assert.throws(
        () => dataPath(),
        (e: Error) =>
          e instanceof SettingError && e.message.includes(`but ${file} is a file, not a folder`) &&
          !/permission/.test(e.message),
      );
    });
  } finally {
    Deno.removeSync(file);
  }
});

Deno.test("~ in a directory setting is the home folder; an empty setting is unset", () => {
  withEnv("CH5_DATA_DIR", "~/ch5data", () => assert.equal(dataPath("x"), join(Deno.env.get("HOME")!, "ch5data", "x")));
  withEnv("CH5_DATA_DIR", "~other/data", () => assert.throws(() => dataPath(), /~user paths are not expanded/));
  withEnv("CH5_DATA_DIR", "  ", () => assert.equal(dataPath(), join(ROOT, "data")));
  withEnv("CH5_MNIST_DIR", "", () => assert.equal(setting("CH5_MNIST_DIR"), undefined));
});

Deno.test("CH5_ELEPHANT must name a file; CH5_H5_PROBE_MS a whole number of ms the timer can hold", () => {
  withEnv("CH5_ELEPHANT", "/nope/x.jpg", () => {
    assert.throws(
      () => fileSetting("CH5_ELEPHANT"),
      (e: Error) => e instanceof SettingError && /^CH5_ELEPHANT=\/nope\/x\.jpg: there is no file at/.test(e.message),
    );
    assert.throws(() => checkSettings(), SettingError);
  });
  withEnv("CH5_ELEPHANT", undefined, () => assert.equal(fileSetting("CH5_ELEPHANT"), undefined));
  withEnv("CH5_H5_PROBE_MS", undefined, () => assert.equal(h5ProbeMs(), 30_000));
  withEnv("CH5_H5_PROBE_MS", "5000", () => assert.equal(h5ProbeMs(), 5000));
  for (const bad of ["abc", "99999999999", "0", "-5", "1.5"]) {
    withEnv("CH5_H5_PROBE_MS", bad, () => {
      assert.throws(
        () => h5ProbeMs(),
        (e: Error) =>
          e instanceof SettingError && e.message.startsWith(`CH5_H5_PROBE_MS="${bad}" is not a whole number of ms`),
      );
      assert.throws(() => checkSettings(), SettingError);
    });
  }
});

Deno.test("chapterPicture: CH5_ELEPHANT naming no file is a SettingError naming it (the shared picture is not used silently)", async () => {
  const { chapterPicture } = await import("../lib/data/pictures.ts");
  await withEnv("CH5_ELEPHANT", "/nope/x.jpg", () =>
    assert.rejects(
      chapterPicture("creative_commons_elephant.jpg"),
      (e: Error) => e instanceof SettingError && e.message.includes("CH5_ELEPHANT=/nope/x.jpg"),
    ));
});

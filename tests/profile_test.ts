import assert from "node:assert/strict";
import { join } from "node:path";
import {
  byProfile,
  checkSettings,
  dataPath,
  dirSetting,
  profile,
  ProfileError,
  ROOT,
  SettingError,
  trainUntil,
} from "../lib/io/profile.ts";

function withEnv(name: string, value: string | undefined, body: () => void) {
  const old = Deno.env.get(name);
  if (value === undefined) Deno.env.delete(name);
  else Deno.env.set(name, value);
  try {
    body();
  } finally {
    if (old === undefined) Deno.env.delete(name);
    else Deno.env.set(name, old);
  }
}

Deno.test("CH5_PROFILE picks quick or full, and names the choices when wrong", () => {
  withEnv("CH5_PROFILE", undefined, () => assert.equal(profile(), "quick"));
  withEnv("CH5_PROFILE", " Full ", () => assert.equal(byProfile({ quick: 1, full: 2 }), 2));
  withEnv(
    "CH5_PROFILE",
    "fast",
    () => assert.throws(() => profile(), (e: Error) => e instanceof ProfileError && /"quick".*"full"/.test(e.message)),
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
      () => assert.throws(() => trainUntil(), (e: Error) => e instanceof ProfileError && /ISO 8601/.test(e.message)),
    );
  }
});

Deno.test("issue 13 row 17: CH5_TRAIN_UNTIL=2026-02-30 is refused, not read as 03-02; so are 24:00 and month 00", () => {
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
      assert.throws(() => trainUntil(), (e: Error) => e instanceof ProfileError && why.test(e.message));
      assert.throws(() => checkSettings(), (e: Error) => e instanceof SettingError && e.message.includes(bad));
    });
  }
});

Deno.test("issue 13 row 9: a relative CH5_DATA_DIR / CH5_WEIGHTS_DIR is taken from the project root, not the current folder", () => {
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

Deno.test("issue 13 row 8: CH5_DATA_DIR naming a file is a SettingError that names it and says what to do", () => {
  const file = Deno.makeTempFileSync();
  try {
    withEnv("CH5_DATA_DIR", file, () => {
      assert.throws(
        () => dataPath("cats_and_dogs_small"),
        (e: Error) =>
          e instanceof SettingError && e.message.includes(`CH5_DATA_DIR=${file}`) &&
          /is a file, not a folder/.test(e.message),
      );
    });
  } finally {
    Deno.removeSync(file);
  }
});

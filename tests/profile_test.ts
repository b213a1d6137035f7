import assert from "node:assert/strict";
import { byProfile, profile, ProfileError, trainUntil } from "../lib/io/profile.ts";

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
  for (const bad of ["tomorrow", "7:00", "2026-11-27", "2026-13-45T99:00"]) {
    withEnv(
      "CH5_TRAIN_UNTIL",
      bad,
      () => assert.throws(() => trainUntil(), (e: Error) => e instanceof ProfileError && /ISO 8601/.test(e.message)),
    );
  }
});

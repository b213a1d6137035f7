/** Test helpers for settings read from the environment: set one for a while, or give a test its own data folder. */
import { join } from "node:path";

/**
 * Run `fn` with the environment variable `name` set to `value` (`undefined`: unset), and put back what was there
 * (or nothing) when it returns, or when the promise it returns settles.
 */
export function withEnv<T>(name: string, value: string | undefined, fn: () => T): T {
  const before = Deno.env.get(name);
  const put = (v: string | undefined) => v === undefined ? Deno.env.delete(name) : Deno.env.set(name, v);
  put(value);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    put(before);
    throw err;
  }
  if (result instanceof Promise) return result.finally(() => put(before)) as T;
  put(before);
  return result;
}

/**
 * Run `fn` in a fresh temporary folder `dir` (named with `prefix`) with `CH5_DATA_DIR` at `join(dir, sub)`;
 * the folder is removed after.
 */
export async function withTempDataDir(
  prefix: string,
  fn: (dir: string) => Promise<void>,
  sub = "",
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await withEnv("CH5_DATA_DIR", join(dir, sub), () => fn(dir));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

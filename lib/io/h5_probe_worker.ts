/**
 * The worker of `probeH5` (see `h5.ts`): opens an HDF5 file and reads its
 * whole structure (groups, datasets' shapes, every attribute), then answers.
 * It runs apart from the caller so that a damaged file on which HDF5 loops
 * forever can be stopped by terminating the worker.
 *
 * @module
 */
import { readH5 } from "./h5.ts";

/** The worker's global scope (the project type-checks against the window's). */
const scope = globalThis as unknown as {
  onmessage: (event: MessageEvent<{ path: string }>) => void;
  postMessage(message: unknown): void;
};

scope.onmessage = async (event) => {
  try {
    await readH5(event.data.path, { probe: false });
    scope.postMessage({ ok: true });
  } catch (err) {
    scope.postMessage({ ok: false, name: (err as Error)?.name, message: (err as Error)?.message ?? String(err) });
  }
};

/**
 * The workbook's error classes: one per kind of trouble a user can meet (the
 * engine adds `BackendError`). Every message names the file or setting, what
 * is wrong and what to do; `cause` carries the underlying error (a
 * file-system error, HDF5's words, a `Deno.errors.NotFound` for something
 * missing).
 *
 * @example
 * ```ts
 * import { ModelFileError } from "./errors.ts";
 * try {
 *   throw new ModelFileError("no model called x", { cause: new Deno.errors.NotFound("x") });
 * } catch (err) {
 *   if (err instanceof ModelFileError && err.cause instanceof Deno.errors.NotFound) console.log("missing");
 * }
 * ```
 * @module
 */

/** A setting (`CH5_*` environment variable) whose value cannot be used. */
export class SettingError extends Error {
  override name = "SettingError";
}

/** A data source, split, archive, dataset folder or iterator state that cannot be used. */
export class DataError extends Error {
  override name = "DataError";
}

/** A picture that is missing, cannot be decoded, or is too large. */
export class PictureError extends Error {
  override name = "PictureError";
  /** The file (or `"<bytes>"` for a picture in memory). */
  readonly path: string;
  constructor(message: string, path: string, options?: ErrorOptions) {
    super(message, options);
    this.path = path;
  }
}

/** A model file (a saved model, a Keras `.h5`, any HDF5 file) that is missing, damaged, or cannot be written. */
export class ModelFileError extends Error {
  override name = "ModelFileError";
}

/** A download that cannot start, breaks off or fails its checks, or a file that can be had neither way. */
export class DownloadError extends Error {
  override name = "DownloadError";
}

/** A checkpoint that cannot be written, or cannot be used to resume. */
export class CheckpointError extends Error {
  override name = "CheckpointError";
}

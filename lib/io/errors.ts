/**
 * The workbook's error classes, one per kind of trouble a user can meet (the
 * engine adds `BackendError`). Each message names the file or setting, what is
 * wrong and what to do; `cause` carries the underlying error.
 *
 * @module
 */

/** The common base: an error whose `name` is its class's. */
class WorkbookError extends Error {
  override get name(): string {
    return this.constructor.name;
  }
}

/** A setting (`CH5_*` environment variable) whose value cannot be used. */
export class SettingError extends WorkbookError {}

/** A data source, split, archive, dataset folder or iterator state that cannot be used. */
export class DataError extends WorkbookError {}

/** A model file (a saved model, a Keras `.h5`, any HDF5 file) that is missing, damaged, or cannot be written. */
export class ModelFileError extends WorkbookError {}

/** A download that cannot start, breaks off or fails its checks, or a file that can be had neither way. */
export class DownloadError extends WorkbookError {}

/** A checkpoint that cannot be written, or cannot be used to resume. */
export class CheckpointError extends WorkbookError {}

/** A picture that is missing, cannot be decoded, or is too large. */
export class PictureError extends WorkbookError {
  /** The file (or `"<bytes>"` for a picture in memory). */
  readonly path: string;
  constructor(message: string, path: string, options?: ErrorOptions) {
    super(message, options);
    this.path = path;
  }
}

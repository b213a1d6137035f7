/**
 * Jupyter's Interrupt as Python's `KeyboardInterrupt`: a long loop stops
 * within a step, says where, and the cell ends in an error (so Run All stops
 * there), while the kernel and its variables live on.
 *
 * Deno's kernel dies on SIGINT unless the process listens for it. While a
 * loop of {@link steps} (or the body of {@link interruptible}) runs, a
 * listener is active and Interrupt aborts its `AbortSignal`; when none runs,
 * Interrupt ends the kernel process as before. The signal reaches the
 * listener only when the event loop waits on a timer: {@link steps} does
 * that between steps (about every 50 ms, 2–4 ms each), which `setImmediate`
 * does not (a SIGINT then waits seconds, past the end of a short loop).
 *
 * @example
 * ```ts
 * import { steps } from "./interrupt.ts";
 * let sum = 0;
 * for await (const i of steps(40, "gradient ascent")) sum += i; // Interrupt: KeyboardInterrupt after step i + 1
 * ```
 * @module
 */
import { noteInterrupt, stopQueuedCell } from "./display.ts";

/**
 * Raised where Interrupt stopped a loop; its message says where. In a
 * Jupyter kernel, the cells Run All queued behind it then stop too
 * (see `stopQueuedCell`).
 */
export class KeyboardInterrupt extends Error {
  override name = "KeyboardInterrupt";
  constructor(message: string) {
    super(message);
    this.stack = `${this.name}: ${message}`; // where it stopped says it all; lib frames would only hide it
    noteInterrupt();
  }
}

const active = new Set<AbortController>();
const onSigint = () => void requestInterrupt();

/**
 * Do what Interrupt does, without a signal: every running
 * {@link interruptible} body is aborted. Returns whether one was running.
 * (Tests use it: `deno test` itself ends on a real SIGINT.)
 */
export function requestInterrupt(): boolean {
  for (const controller of active) controller.abort();
  return active.size > 0;
}

/** Whether a SIGINT listener of this module is active now (i.e. inside {@link interruptible}). */
export function interruptListening(): boolean {
  return active.size > 0;
}

/**
 * Run `body` with Interrupt caught: SIGINT aborts `signal` instead of ending
 * the process. Bodies may nest (a `fit` inside a notebook loop); one SIGINT
 * aborts them all. The listener goes when the last body settles.
 */
export async function interruptible<T>(body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = hold();
  try {
    return await body(controller.signal);
  } finally {
    release(controller);
  }
}

function hold(): AbortController {
  stopQueuedCell();
  const controller = new AbortController();
  if (active.size === 0) Deno.addSignalListener("SIGINT", onSigint);
  active.add(controller);
  return controller;
}

function release(controller: AbortController): void {
  active.delete(controller);
  if (active.size === 0) Deno.removeSignalListener("SIGINT", onSigint);
}

let lastWait = 0;

/**
 * Let a pending Interrupt in, and say whether it came: waits on a timer
 * (a `setTimeout(0)`, which lets Deno poll for signals) when 50 ms have
 * passed since the last such wait, or when `force` is set.
 */
export async function letInterruptIn(signal: AbortSignal, force = false): Promise<boolean> {
  if (force || performance.now() - lastWait >= 50) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    lastWait = performance.now();
  }
  return signal.aborted;
}

/**
 * The steps of a loop that Interrupt stops: `0 … count - 1`, or the items of
 * `source` (an iterator of batches, say). Between two steps, and after the
 * last, a pending Interrupt throws a {@link KeyboardInterrupt} naming the step
 * that ended last and `label`.
 *
 * @example
 * ```ts
 * import { steps } from "./interrupt.ts";
 * const batches = async function* () { for (let i = 0; ; i++) yield i; };
 * for await (const batch of steps(batches(), "feature extraction")) if (batch >= 9) break;
 * ```
 */
export function steps(count: number, label: string): AsyncGenerator<number, void, undefined>;
export function steps<T>(source: AsyncIterable<T> | Iterable<T>, label: string): AsyncGenerator<T, void, undefined>;
export async function* steps<T>(source: number | AsyncIterable<T> | Iterable<T>, label: string) {
  const items = typeof source === "number" ? Array.from({ length: source }, (_, i) => i) : source;
  const total = typeof source === "number" ? `/${source}` : "";
  const controller = hold();
  let done = 0, thrown = false;
  const check = async (force: boolean) => {
    if (thrown || !await letInterruptIn(controller.signal, force)) return;
    thrown = true;
    throw new KeyboardInterrupt(`Interrupted after step ${done}${total} of ${label}`);
  };
  try {
    for await (const item of items as AsyncIterable<T>) {
      yield item;
      done++;
      await check(false);
    }
  } finally {
    // After the last step, or a `break`: an Interrupt that came meanwhile is not silently dropped.
    try {
      await check(true);
    } finally {
      release(controller);
    }
  }
}

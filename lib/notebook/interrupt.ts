/**
 * Jupyter's Interrupt (SIGINT to the kernel) that stops a long loop and keeps
 * the kernel, with every variable, alive.
 *
 * Deno's kernel dies on SIGINT unless the process listens for it. While the
 * body of {@link interruptible} runs, a listener is active: Interrupt only sets
 * {@link InterruptFlag.requested}, and the loop stops at the end of its
 * current step. When no such body runs, the listener is removed and Interrupt
 * behaves as before (the kernel process ends, and Jupyter restarts it).
 *
 * The loop must be asynchronous (an `await` on real work, a timer or I/O each
 * step): the signal is delivered between steps, never inside a synchronous
 * computation. `fit` uses this module itself.
 *
 * @example
 * ```ts
 * import { interruptible } from "./interrupt.ts";
 * const done = await interruptible(async (stop) => {
 *   let step = 0;
 *   for (; step < 1000; step++) {
 *     if (stop.requested) {
 *       await stop.stopped(`step ${step}/1000`);
 *       break;
 *     }
 *     await new Promise((resolve) => setTimeout(resolve, 1));
 *   }
 *   return step;
 * });
 * ```
 * @module
 */
import { setImmediate } from "node:timers";
import { print } from "./display.ts";

/** What the body of {@link interruptible} sees. */
export interface InterruptFlag {
  /** True once Interrupt (SIGINT) arrived while the body ran. */
  readonly requested: boolean;
  /**
   * Print, once, where the loop stopped: `Interrupted at <where>. …`. Call it
   * when the loop breaks because of {@link requested}.
   */
  stopped(where: string, detail?: string): Promise<void>;
}

class Flag implements InterruptFlag {
  requested = false;
  #reported = false;

  async stopped(where: string, detail = "The kernel and its variables are kept."): Promise<void> {
    if (this.#reported) return;
    this.#reported = true;
    await print(`Interrupted at ${where}. ${detail}`);
  }
}

const active = new Set<Flag>();
let listener: (() => void) | undefined;

/**
 * Do what Interrupt does, without a signal: every active
 * {@link interruptible} body sees `requested`. Returns whether one was
 * running. (Tests use it: `deno test` itself ends on a real SIGINT.)
 *
 * @example
 * ```ts
 * import { requestInterrupt } from "./interrupt.ts";
 * requestInterrupt(); // false: no loop is listening
 * ```
 */
export function requestInterrupt(): boolean {
  for (const flag of active) flag.requested = true;
  return active.size > 0;
}

function listen(): void {
  if (listener) return;
  listener = () => {
    requestInterrupt();
  };
  Deno.addSignalListener("SIGINT", listener);
}

function unlisten(): void {
  if (active.size > 0 || !listener) return;
  Deno.removeSignalListener("SIGINT", listener);
  listener = undefined;
}

/** Whether a SIGINT listener of this module is active now (i.e. inside {@link interruptible}). */
export function interruptListening(): boolean {
  return listener !== undefined;
}

/**
 * Run `body` with Interrupt caught: a SIGINT sets `flag.requested` instead of
 * ending the process. Bodies may nest (a `fit` inside a wrapped cell); one
 * SIGINT reaches every active flag. The listener goes when the last body
 * settles, whether it returned or threw.
 *
 * @example
 * ```ts
 * import { interruptible } from "./interrupt.ts";
 * const batches: number[] = [];
 * await interruptible(async (stop) => {
 *   for (let i = 0; i < 100 && !stop.requested; i++) batches.push(await Promise.resolve(i));
 * });
 * ```
 */
export async function interruptible<T>(body: (flag: InterruptFlag) => Promise<T>): Promise<T> {
  const flag = new Flag();
  active.add(flag);
  listen();
  try {
    return await body(flag);
  } finally {
    active.delete(flag);
    unlisten();
  }
}

/**
 * Let the event loop deliver signals: resolves after one turn of it
 * (`setImmediate`, about 0.06 ms; a nested `setTimeout(0)` costs 4 ms). An
 * `await` on an already-resolved promise does not give the event loop a turn,
 * so a loop whose steps never wait on I/O or timers should await this each
 * step.
 *
 * @example
 * ```ts
 * import { yieldToEventLoop } from "./interrupt.ts";
 * await yieldToEventLoop();
 * ```
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

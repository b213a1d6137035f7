/**
 * Drive the system's headless Chromium over the Chrome DevTools Protocol,
 * with no browser download and no network: open local pages, evaluate
 * JavaScript, collect the page's errors and requests, take screenshots.
 *
 * @example
 * ```ts
 * import { findChromium, launchChromium } from "./chromium.ts";
 * const browser = await launchChromium(findChromium()!);
 * const page = await browser.newPage();
 * await page.goto("file:///tmp/page.html");
 * console.log(await page.evaluate("document.title"), page.errors);
 * await browser.close();
 * ```
 * @module
 */

/** Places Chromium is installed by Debian and others; `CHROMIUM` overrides. */
export const CHROMIUM_PATHS: readonly string[] = [
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome",
  "/usr/bin/google-chrome-stable",
];

/**
 * The Chromium executable: `$CHROMIUM`, else the first of
 * {@link CHROMIUM_PATHS} that exists; `undefined` when there is none.
 *
 * @example
 * ```ts
 * import { findChromium } from "./chromium.ts";
 * console.log(findChromium() ?? "no chromium: apt-get install chromium");
 * ```
 */
export function findChromium(): string | undefined {
  const candidates = [Deno.env.get("CHROMIUM"), ...CHROMIUM_PATHS].filter((p): p is string => !!p);
  for (const path of candidates) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not there
    }
  }
  return undefined;
}

/**
 * Flags for a headless, sandbox-less (root), offline Chromium: no GPU, no
 * QUIC, no background or first-run traffic, and every host name resolving
 * to nothing, so a page that needs the network fails visibly.
 */
export const HEADLESS_FLAGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
  "--host-resolver-rules=MAP * ~NOTFOUND",
  "--remote-debugging-port=0",
];

/** One thing a page reported as wrong: an exception, a console error, a failed load. */
export interface PageError {
  /** An uncaught exception, a `console.error`, or a browser log entry (e.g. a failed load). */
  kind: "exception" | "console" | "log";
  /** What was reported. */
  text: string;
}

type Pending = { resolve: (v: any) => void; reject: (e: Error) => void; method: string };
type Listener = (params: any, sessionId?: string) => void;

class Connection {
  #ws: WebSocket;
  #id = 0;
  #pending = new Map<number, Pending>();
  #listeners = new Map<string, Listener[]>();
  readonly closed: Promise<void>;

  constructor(ws: WebSocket) {
    this.#ws = ws;
    this.closed = new Promise((resolve) => ws.addEventListener("close", () => resolve()));
    ws.addEventListener("message", (event) => {
      const msg = JSON.parse(event.data as string);
      if (msg.id !== undefined) {
        const pending = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (!pending) return;
        if (msg.error) pending.reject(new Error(`${pending.method}: ${msg.error.message}`));
        else pending.resolve(msg.result);
      } else {
        for (const listener of this.#listeners.get(msg.method) ?? []) listener(msg.params, msg.sessionId);
      }
    });
    ws.addEventListener("close", () => {
      for (const p of this.#pending.values()) p.reject(new Error(`${p.method}: the browser closed the connection`));
      this.#pending.clear();
    });
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<any> {
    const id = ++this.#id;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, method });
      this.#ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  }

  on(method: string, listener: Listener): void {
    this.#listeners.set(method, [...(this.#listeners.get(method) ?? []), listener]);
  }

  close(): void {
    this.#ws.close();
  }
}

/**
 * A browser tab, from {@link Browser.newPage}.
 *
 * @example
 * ```ts
 * import { findChromium, launchChromium } from "./chromium.ts";
 * const browser = await launchChromium(findChromium()!);
 * const page = await browser.newPage();
 * await page.goto("file:///tmp/page.html");
 * await Deno.writeFile("/tmp/page.png", await page.screenshot());
 * await browser.close();
 * ```
 */
export class Page {
  #conn: Connection;
  #session: string;
  #loaded: (() => void) | undefined;
  /** What the page reported as wrong since it was opened. */
  readonly errors: PageError[] = [];
  /** URLs of every request the page made. */
  readonly requests: string[] = [];

  /** @internal Use {@link Browser.newPage}. */
  constructor(conn: Connection, session: string) {
    this.#conn = conn;
    this.#session = session;
    conn.on("Runtime.exceptionThrown", (p, s) => {
      if (s !== session) return;
      const d = p.exceptionDetails;
      this.errors.push({
        kind: "exception",
        text: `${d.exception?.description ?? d.text} (${d.url ?? ""}:${d.lineNumber})`,
      });
    });
    conn.on("Runtime.consoleAPICalled", (p, s) => {
      if (s !== session || (p.type !== "error" && p.type !== "assert")) return;
      this.errors.push({
        kind: "console",
        text: p.args.map((a: any) => a.value ?? a.description ?? "").join(" "),
      });
    });
    conn.on("Log.entryAdded", (p, s) => {
      if (s === session && p.entry.level === "error") {
        this.errors.push({ kind: "log", text: `${p.entry.text} ${p.entry.url ?? ""}`.trim() });
      }
    });
    conn.on("Network.requestWillBeSent", (p, s) => {
      if (s === session) this.requests.push(p.request.url);
    });
    conn.on("Page.loadEventFired", (_p, s) => {
      if (s === session) this.#loaded?.();
    });
  }

  /** Send a DevTools Protocol command to this tab. */
  send(method: string, params: Record<string, unknown> = {}): Promise<any> {
    return this.#conn.send(method, params, this.#session);
  }

  /** Set the viewport size in CSS pixels. */
  async setViewport(width: number, height: number): Promise<void> {
    await this.send("Emulation.setDeviceMetricsOverride", { width, height, deviceScaleFactor: 1, mobile: false });
  }

  /**
   * Open a URL and wait for its load event.
   *
   * @throws {Error} when navigation fails or the page does not load within `timeoutMs`.
   */
  async goto(url: string, timeoutMs = 60_000): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const loaded = new Promise<void>((resolve, reject) => {
      this.#loaded = resolve;
      timer = setTimeout(() => reject(new Error(`${url} did not finish loading in ${timeoutMs / 1000} s`)), timeoutMs);
    });
    try {
      const result = await this.send("Page.navigate", { url });
      if (result.errorText) throw new Error(`Cannot open ${url}: ${result.errorText}`);
      await loaded;
    } finally {
      clearTimeout(timer);
      this.#loaded = undefined;
    }
  }

  /**
   * Evaluate an expression in the page (awaiting a promise) and return its
   * value as JSON.
   *
   * @throws {Error} with the page's exception text when the expression throws.
   */
  async evaluate<T = unknown>(expression: string): Promise<T> {
    const r = await this.send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true });
    if (r.exceptionDetails) {
      throw new Error(`evaluate failed: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    }
    return r.result.value as T;
  }

  /** Poll `expression` until it is truthy; returns its last value (falsy after `timeoutMs`). */
  async waitFor<T = unknown>(expression: string, timeoutMs = 30_000, intervalMs = 200): Promise<T> {
    const end = Date.now() + timeoutMs;
    let value = await this.evaluate<T>(expression);
    while (!value && Date.now() < end) {
      await new Promise((r) => setTimeout(r, intervalMs));
      value = await this.evaluate<T>(expression);
    }
    return value;
  }

  /**
   * Screenshot the whole page (up to `maxHeight` CSS pixels tall) as PNG
   * bytes, at the current viewport width.
   */
  async screenshot(options: { width?: number; maxHeight?: number } = {}): Promise<Uint8Array> {
    const width = options.width ?? 1100;
    const metrics = await this.send("Page.getLayoutMetrics");
    const size = metrics.cssContentSize ?? metrics.contentSize;
    const height = Math.max(1, Math.min(Math.ceil(size.height), options.maxHeight ?? 8000));
    await this.setViewport(width, height);
    const shot = await this.send("Page.captureScreenshot", { format: "png", captureBeyondViewport: false });
    return Uint8Array.from(atob(shot.data), (c) => c.charCodeAt(0));
  }

  /**
   * The fonts Chromium used for the text of the first element matching
   * `selector` (family names and how many glyphs each drew).
   */
  async fontsFor(selector: string): Promise<{ familyName: string; glyphCount: number }[]> {
    await this.send("DOM.enable");
    await this.send("CSS.enable");
    const { root } = await this.send("DOM.getDocument", { depth: 0 });
    const { nodeId } = await this.send("DOM.querySelector", { nodeId: root.nodeId, selector });
    if (!nodeId) return [];
    const { fonts } = await this.send("CSS.getPlatformFontsForNode", { nodeId });
    return fonts;
  }
}

/**
 * A running headless Chromium, from {@link launchChromium}.
 *
 * @example
 * ```ts
 * import { findChromium, launchChromium } from "./chromium.ts";
 * const browser = await launchChromium(findChromium()!);
 * console.log((await browser.newPage()).errors);
 * await browser.close();
 * ```
 */
export class Browser {
  #child: Deno.ChildProcess;
  #conn: Connection;
  #profile: string;
  #stderr: Promise<string>;

  /** @internal Use {@link launchChromium}. */
  constructor(child: Deno.ChildProcess, conn: Connection, profile: string, stderr: Promise<string>) {
    this.#child = child;
    this.#conn = conn;
    this.#profile = profile;
    this.#stderr = stderr;
  }

  /** Open a new tab with Page, Runtime, Log and Network events on. */
  async newPage(): Promise<Page> {
    const { targetId } = await this.#conn.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.#conn.send("Target.attachToTarget", { targetId, flatten: true });
    const page = new Page(this.#conn, sessionId);
    await Promise.all(["Page.enable", "Runtime.enable", "Log.enable", "Network.enable"].map((m) => page.send(m)));
    return page;
  }

  /** Close the browser and remove its temporary profile; returns what it wrote to stderr. */
  async close(): Promise<string> {
    try {
      await Promise.race([this.#conn.send("Browser.close"), new Promise((r) => setTimeout(r, 5000))]);
    } catch {
      // already gone
    }
    this.#conn.close();
    await Promise.race([this.#conn.closed, new Promise((r) => setTimeout(r, 2000))]);
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // exited
      }
    }, 10_000);
    await this.#child.status;
    clearTimeout(timer);
    const log = await this.#stderr;
    await Deno.remove(this.#profile, { recursive: true }).catch(() => {});
    return log;
  }
}

/**
 * Start headless Chromium with {@link HEADLESS_FLAGS} and a fresh profile,
 * and connect to it.
 *
 * @example
 * ```ts
 * import { findChromium, launchChromium } from "./chromium.ts";
 * const browser = await launchChromium(findChromium() ?? "/usr/bin/chromium");
 * await browser.close();
 * ```
 *
 * @throws {Error} when it does not start or print its DevTools address within `timeoutMs`.
 */
export async function launchChromium(executable: string, timeoutMs = 60_000): Promise<Browser> {
  const profile = await Deno.makeTempDir({ prefix: "ch5-chromium-" });
  const child = new Deno.Command(executable, {
    args: [...HEADLESS_FLAGS, `--user-data-dir=${profile}`, "about:blank"],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let found: (url: string) => void = () => {};
  const wsUrl = new Promise<string>((resolve) => (found = resolve));
  // Read stderr to the end (so Chromium never blocks on a full pipe), watching for the address.
  const stderr = (async () => {
    let text = "";
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      text += decoder.decode(chunk, { stream: true });
      const match = text.match(/DevTools listening on (ws:\/\/\S+)/);
      if (match) found(match[1]);
    }
    return text;
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const exited = child.status.then((s) => {
    throw new Error(`${executable} exited with code ${s.code} before it was ready`);
  });
  exited.catch(() => {}); // it also exits, normally, at close()
  const url = await Promise.race([
    wsUrl,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${executable} printed no DevTools address in ${timeoutMs / 1000} s`)),
        timeoutMs,
      );
    }),
    exited,
  ]).catch(async (error) => {
    clearTimeout(timer);
    try {
      child.kill("SIGKILL");
    } catch {
      // exited
    }
    await child.status;
    const log = await stderr;
    await Deno.remove(profile, { recursive: true }).catch(() => {});
    throw new Error(`${error.message}\n${log.slice(-2000)}`);
  });
  clearTimeout(timer);
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("error", () => reject(new Error(`Cannot connect to ${url}`)), { once: true });
  });
  return new Browser(child, new Connection(ws), profile, stderr);
}

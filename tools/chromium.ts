/**
 * The system's headless Chromium through puppeteer-core (no browser
 * download, no network): launch it with offline flags, and watch a page for
 * what it reports as wrong and for the requests it makes.
 *
 * @example
 * ```ts
 * import { findChromium, launchChromium, watchPage } from "./chromium.ts";
 * const browser = await launchChromium(findChromium()!);
 * const page = await browser.newPage();
 * const seen = await watchPage(page);
 * await page.goto("file:///tmp/page.html");
 * console.log(await page.title(), seen.errors);
 * await browser.close();
 * ```
 * @module
 */
import puppeteer, { type Browser, type Page } from "puppeteer-core";

export type { Browser, Page };

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
  return candidates.find((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  });
}

/**
 * Flags for a headless, sandbox-less (root), offline Chromium: no GPU, no
 * QUIC, no background or first-run traffic. With `offline`, every host name
 * resolves to nothing, so a page that needs the network fails visibly
 * (leave it off for a page served on 127.0.0.1 by name).
 */
export function chromiumFlags(offline = true): string[] {
  return [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    ...(offline ? ["--host-resolver-rules=MAP * ~NOTFOUND"] : []),
  ];
}

/**
 * Start headless Chromium with {@link chromiumFlags}.
 *
 * @example
 * ```ts
 * import { findChromium, launchChromium } from "./chromium.ts";
 * const browser = await launchChromium(findChromium() ?? "/usr/bin/chromium");
 * await browser.close();
 * ```
 */
export function launchChromium(executable: string, options: { offline?: boolean } = {}): Promise<Browser> {
  return puppeteer.launch({
    executablePath: executable,
    headless: true,
    args: chromiumFlags(options.offline),
    defaultViewport: { width: 1100, height: 900 },
  });
}

/** One thing a page reported as wrong: an exception, a console error, a failed load. */
export interface PageError {
  /** An uncaught exception, a `console.error`, or a browser log entry (e.g. a failed load). */
  kind: "exception" | "console" | "log";
  /** What was reported. */
  text: string;
}

/**
 * Collect, from now on, what `page` reports as wrong (exceptions, console
 * errors, the browser's error log) and the URL of every request it makes.
 *
 * @example
 * ```ts
 * import { findChromium, launchChromium, watchPage } from "./chromium.ts";
 * const browser = await launchChromium(findChromium()!);
 * const page = await browser.newPage();
 * const { errors, requests } = await watchPage(page);
 * ```
 */
export async function watchPage(page: Page): Promise<{ errors: PageError[]; requests: string[] }> {
  const errors: PageError[] = [];
  const requests: string[] = [];
  page.on("pageerror", (error) => errors.push({ kind: "exception", text: String(error) }));
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "assert") {
      errors.push({ kind: "console", text: message.text() });
    }
  });
  page.on("request", (request) => requests.push(request.url()));
  const cdp = await page.createCDPSession();
  await cdp.send("Log.enable");
  cdp.on("Log.entryAdded", ({ entry }) => {
    if (entry.level === "error") errors.push({ kind: "log", text: `${entry.text} ${entry.url ?? ""}`.trim() });
  });
  return { errors, requests };
}

/**
 * The fonts Chromium used for the text of the first element matching
 * `selector` (family names and how many glyphs each drew).
 *
 * @example
 * ```ts
 * import { findChromium, fontsFor, launchChromium } from "./chromium.ts";
 * const browser = await launchChromium(findChromium()!);
 * const page = await browser.newPage();
 * await page.setContent("<p>日本語</p>");
 * console.log(await fontsFor(page, "p"));
 * ```
 */
export async function fontsFor(page: Page, selector: string): Promise<{ familyName: string; glyphCount: number }[]> {
  const cdp = await page.createCDPSession();
  await cdp.send("DOM.enable");
  await cdp.send("CSS.enable");
  const { root } = await cdp.send("DOM.getDocument", { depth: 0 });
  const { nodeId } = await cdp.send("DOM.querySelector", { nodeId: root.nodeId, selector });
  if (!nodeId) return [];
  const { fonts } = await cdp.send("CSS.getPlatformFontsForNode", { nodeId });
  await cdp.detach();
  return fonts;
}

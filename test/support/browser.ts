/**
 * Headless Debian Chromium for tests, driven by playwright-core (which never downloads a browser here).
 * Install with `apt-get install -y chromium`; set FACETRAIN_CHROMIUM to use another binary.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.FACETRAIN_CHROMIUM ?? '/usr/bin/chromium';

/** Quiet, reproducible, and silent on the network: no QUIC, sync, component updates or background fetches. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * `skip` option for node:test: false when Chromium is installed, else the reason. Under CI a missing
 * browser is a broken CI image, so it throws instead of letting the test pass as skipped.
 */
export function chromiumAvailable(): string | false {
  if (existsSync(CHROMIUM_PATH)) return false;
  const reason = `Chromium not found at ${CHROMIUM_PATH}; install it with "apt-get install -y chromium" or set FACETRAIN_CHROMIUM`;
  if (process.env.CI) throw new Error(`CI=true but ${reason}`);
  return reason;
}

export interface LaunchOptions {
  /** Emulate no network in the context (default true); pass false to reach a local test server. */
  offline?: boolean;
  viewport?: { width: number; height: number };
  /** Chromium switches beyond CHROMIUM_ARGS (e.g. a fake camera). */
  args?: string[];
}

export interface LaunchedBrowser {
  browser: Browser;
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Launches Chromium with a fresh context. playwright's launch() gives every browser a new empty
 * temporary user-data-dir and deletes it on close, so no profile state leaks between tests.
 */
export async function launch({ offline = true, viewport = { width: 1200, height: 900 }, args = [] }: LaunchOptions = {}): Promise<LaunchedBrowser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS, ...args] });
  try {
    const context = await browser.newContext({ offline, viewport });
    return { browser, context, close: () => browser.close() };
  } catch (err) {
    await browser.close();
    throw err;
  }
}

export function isLocalResource(url: string): boolean {
  return /^(?:file|data|blob|about):/.test(url);
}

/**
 * Aborts every request that `allow` rejects and records it, so a test can assert that nothing
 * tried to reach the network (aborting alone would only show up as a broken image or chart).
 */
export async function blockNetwork(context: BrowserContext, allow: (url: string) => boolean = isLocalResource): Promise<string[]> {
  const attempted: string[] = [];
  context.on('request', (request) => {
    if (!allow(request.url())) attempted.push(request.url());
  });
  await context.route('**/*', (route) => (allow(route.request().url()) ? route.continue() : route.abort('blockedbyclient')));
  return attempted;
}

/** Console errors and uncaught exceptions of a page, collected as they happen. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
  return errors;
}

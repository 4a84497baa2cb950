import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { errorMessage } from '../lib/errors.js';
import { isExecutable } from '../lib/executables.js';
import { writeFileAtomic } from '../lib/safe-write.js';
import type { Exporter, ExportOutcome } from './exporter.js';
import { renderHtml } from './html.js';

/**
 * PNGs of the main charts: headless Chromium (Debian's `chromium`, driven by playwright-core)
 * opens an HTML page from file:// with every network request refused, and saves a screenshot of
 * each element marked data-png. Without Chromium the PNGs are skipped with a note.
 */

const CANDIDATES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

/** $FUSEBENCH_CHROMIUM, then /usr/bin/chromium, then the first Chromium found on $PATH. */
export function findChromium(): string | null {
  const override = process.env.FUSEBENCH_CHROMIUM;
  if (override) return isExecutable(override) ? override : null;
  if (isExecutable('/usr/bin/chromium')) return '/usr/bin/chromium';
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean))
    for (const name of CANDIDATES) {
      const path = join(dir, name);
      if (existsSync(path) && isExecutable(path)) return path;
    }
  return null;
}

const RENDER_TIMEOUT_MS = 30_000;

/**
 * Opens a local HTML file in headless Chromium with every non-file request refused, waits until
 * its charts are drawn, and hands the page to `use`.
 */
export async function withChartPage<T>(
  htmlPath: string,
  chromium: string,
  use: (page: Page) => Promise<T>,
): Promise<T> {
  const { chromium: launcher } = await import('playwright-core');
  const browser = await launcher.launch({
    executablePath: chromium,
    headless: true,
    timeout: RENDER_TIMEOUT_MS,
    // Root has no user namespace sandbox in most containers; the page is our own local file.
    chromiumSandbox: false,
    args: ['--disable-gpu', '--no-first-run', '--disable-extensions', '--disable-background-networking'],
  });
  try {
    const context = await browser.newContext({
      viewport: { width: 1200, height: 900 },
      deviceScaleFactor: 1.5,
      offline: true,
    });
    const page = await context.newPage();
    page.setDefaultTimeout(RENDER_TIMEOUT_MS);
    await page.route('**/*', (route) =>
      route.request().url().startsWith('file:') ? route.continue() : route.abort('blockedbyclient'),
    );
    await page.goto(pathToFileURL(resolve(htmlPath)).href, { waitUntil: 'load' });
    await page.waitForFunction('window.fusebenchReady === true');
    return await use(page);
  } finally {
    await browser.close();
  }
}

/** Screenshots every data-png element of `htmlPath` into `dir`; returns the files written. */
export async function screenshotPage(htmlPath: string, dir: string, chromium: string): Promise<string[]> {
  return withChartPage(htmlPath, chromium, async (page) => {
    const targets = page.locator('[data-png]');
    const files: string[] = [];
    for (let index = 0; index < (await targets.count()); index++) {
      const target = targets.nth(index);
      const name = await target.getAttribute('data-png');
      if (!name || !/^[\w.-]+\.png$/.test(name)) continue;
      const path = join(dir, name);
      // Written by us, not by the browser: an exclusive temporary renamed into place follows no planted symlink.
      writeFileAtomic(path, await target.screenshot({ animations: 'disabled' }));
      files.push(path);
    }
    return files;
  });
}

/**
 * The PNG exporter: renders index.html's page into a temporary file of its own (so PNGs do not
 * depend on the html format being written) and screenshots its figures.
 */
export const pngExporter: Exporter = {
  name: 'PNG charts',
  async export(models, dir): Promise<ExportOutcome> {
    const chromium = findChromium();
    if (!chromium)
      return { files: [], note: 'PNG charts skipped: chromium not found (./setup.sh installs it)' };
    const scratch = mkdtempSync(join(tmpdir(), 'fusebench-png-'));
    try {
      const page = join(scratch, 'index.html');
      writeFileSync(page, renderHtml(models));
      return { files: await screenshotPage(page, dir, chromium) };
    } catch (error) {
      return { files: [], note: `PNG charts skipped: ${errorMessage(error).split('\n')[0]}` };
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  },
};

import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { listenOnFreePort, type Listening } from '../support/listen.js';
import { openApiOperations } from '../support/contract.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let t: TestApp;
let server: Listening;
let origin: string;
let browser: Browser;

beforeAll(async () => {
  t = await createTestApp();
  server = await listenOnFreePort(t);
  origin = server.origin;
  // The flags keep chromium off the network: this machine has none, and the page must not need it.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser.close();
  await server.close();
  await t.close();
});

describe('API docs page in a browser', () => {
  it('renders every operation of openapi.yaml and requests nothing outside the server', async () => {
    const page = await browser.newPage();
    const requested: string[] = [];
    page.on('request', (req) => requested.push(req.url()));
    const consoleErrors: string[] = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push(msg.text());
    });

    const res = await page.goto(`${origin}/docs`, { waitUntil: 'networkidle' });
    expect(res?.status()).toBe(200);
    await page.waitForSelector('.opblock', { timeout: 30_000 });

    // Read through locators: this test runs under Node's types, without the DOM's.
    const methods = await page.locator('.opblock .opblock-summary-method').allTextContents();
    const paths = await page.locator('.opblock .opblock-summary-path').evaluateAll((els) =>
      els.map((el) => String((el as unknown as { dataset: Record<string, string> }).dataset.path)),
    );
    const rendered = methods.map((m, i) => `${m.trim().toUpperCase()} ${paths[i] ?? ''}`);
    expect(rendered.sort()).toEqual(openApiOperations().sort());

    const outside = requested.filter((url) => !url.startsWith(`${origin}/`) && !url.startsWith('data:'));
    expect(outside).toEqual([]);
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it('when a reader signs up through "Try it out", then a POST as that user works without pasting a CSRF token', async () => {
    const page = await browser.newPage();
    await page.goto(`${origin}/docs`, { waitUntil: 'networkidle' });
    await page.waitForSelector('.opblock', { timeout: 30_000 });

    // Expands an operation, fills its JSON body, executes it and returns the status shown.
    const tryItOut = async (blockId: string, body: object): Promise<string> => {
      const block = page.locator(`#${blockId}`);
      await block.locator('.opblock-summary').first().click();
      await block.locator('button.try-out__btn').click();
      await block.locator('textarea.body-param__text').fill(JSON.stringify(body));
      await block.locator('button.execute').click();
      const status = block.locator('.live-responses-table .response .response-col_status').first();
      await status.waitFor({ timeout: 30_000 });
      return (await status.textContent())?.trim() ?? '';
    };

    expect(await tryItOut('operations-Auth-signup', { email: 'reader@example.test', password: 'reads-the-docs-first', name: 'Reader' })).toBe('201');
    // Signup rotated the session and its token; the page must have picked the new one up.
    expect(await tryItOut('operations-Tenants-createTenant', { name: 'Docs Corp' })).toBe('201');
    await page.close();
  });
});

import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { openApiOperations } from '../support/contract.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let t: TestApp;
let server: Server;
let origin: string;
let browser: Browser;

beforeAll(async () => {
  t = await createTestApp();
  server = t.app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The flags keep chromium off the network: this machine has none, and the page must not need it.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser.close();
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
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
});

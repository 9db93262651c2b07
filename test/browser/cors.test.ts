import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { PASSWORD, uniqueEmail } from '../support/factories.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// Every origin is on `localhost`: ports do not make another site, so the session cookie
// (SameSite=Lax) goes with these cross-origin requests as it would from app.example.com to
// api.example.com. 127.0.0.1 would be another site, and Lax would keep the cookie back.
let api: TestApp;
let apiServer: Server;
let apiOrigin: string;
let listedPages: Server;
let unlistedPages: Server;
let browser: Browser;

/** A server for a blank page: the origin a script runs on is all these tests need of it. */
async function pageServer(): Promise<Server> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>another origin</title>');
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  return server;
}

const originOf = (server: Server): string => `http://localhost:${String((server.address() as AddressInfo).port)}`;

function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => server.close(() => { resolve(); }));
}

async function pageOn(origin: string): Promise<Page> {
  const page = await browser.newPage();
  const res = await page.goto(`${origin}/`);
  expect(res?.status()).toBe(200);
  return page;
}

beforeAll(async () => {
  [listedPages, unlistedPages] = await Promise.all([pageServer(), pageServer()]);
  api = await createTestApp({ env: { CORS_ORIGINS: originOf(listedPages) } });
  apiServer = api.app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => apiServer.once('listening', resolve));
  apiOrigin = originOf(apiServer);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser.close();
  await Promise.all([closeServer(apiServer), closeServer(listedPages), closeServer(unlistedPages)]);
  await api.close();
});

describe('the API called from a page on another origin (CORS_ORIGINS)', () => {
  it('when the origin is listed, then the page signs up with its CSRF token, is signed in on GET /v1/auth/me, and reads x-request-id', async () => {
    const page = await pageOn(originOf(listedPages));
    const email = uniqueEmail('cors');
    // Runs in the page: the browser enforces CORS, sends the preflight for the JSON POST and keeps
    // the cookie the API sets.
    const seen = await page.evaluate(
      async ({ base, email, password }) => {
        const anonymous = await fetch(`${base}/v1/auth/me`, { credentials: 'include' });
        const { csrfToken } = (await anonymous.json()) as { csrfToken: string };
        const signup = await fetch(`${base}/v1/auth/signup`, {
          method: 'POST',
          credentials: 'include',
          headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken },
          body: JSON.stringify({ email, password, name: 'Cross Origin' }),
        });
        const me = await fetch(`${base}/v1/auth/me`, { credentials: 'include' });
        const body = (await me.json()) as { user: { email: string } | null };
        return { signup: signup.status, me: me.status, email: body.user?.email ?? null, requestId: me.headers.get('x-request-id') };
      },
      { base: apiOrigin, email, password: PASSWORD },
    );
    expect(seen).toEqual({ signup: 201, me: 200, email, requestId: expect.stringMatching(/^[0-9a-f]{32}$/) as string });
    await page.close();
  });

  it('when the origin is not listed, then its page cannot read the response', async () => {
    const page = await pageOn(originOf(unlistedPages));
    const outcome = await page.evaluate(async (base) => {
      try {
        const res = await fetch(`${base}/v1/auth/me`, { credentials: 'include' });
        return `read ${String(res.status)}`;
      } catch (err) {
        return `refused: ${String(err)}`;
      }
    }, apiOrigin);
    expect(outcome).toMatch(/^refused: TypeError/);
    await page.close();
  });
});

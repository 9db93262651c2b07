import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemorySessionStore } from '../../src/platform/session/session.js';
import type { TestApp } from '../support/app.js';
import { PASSWORD, uniqueEmail } from '../support/factories.js';
import { listenOnFreePort, type Listening } from '../support/listen.js';
import { createAuthTestApp } from './support.js';

let t: TestApp;
let server: Listening;
let baseUrl: string;
beforeAll(async () => {
  t = await createAuthTestApp();
  // One listening server for the many requests below (supertest would start one per request).
  server = await listenOnFreePort(t);
  baseUrl = server.origin;
});
afterAll(async () => {
  await server.close();
  await t.close();
});

/** Sessions in this app's store: its Redis keys, or the in-process store's entries. */
async function storedSessions(): Promise<number> {
  const redis = t.built.deps.redis;
  if (redis) return (await redis.keys(`${redis.options.keyPrefix ?? ''}sess:*`)).length;
  const store = t.built.sessionStore;
  if (!(store instanceof MemorySessionStore)) throw new Error('expected the in-process session store');
  return store.size;
}

async function me(cookie?: string): Promise<{ csrfToken: string; setCookie: string | null }> {
  const res = await fetch(`${baseUrl}/v1/auth/me`, { headers: cookie ? { cookie } : {} });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { csrfToken: string };
  return { csrfToken: body.csrfToken, setCookie: res.headers.get('set-cookie') };
}

describe('anonymous visitors cost the session store nothing', () => {
  it('when 10,000 cookieless clients call GET /v1/auth/me, then each gets its own CSRF token and no session is stored', async () => {
    const before = await storedSessions();
    const tokens = new Set<string>();
    for (let sent = 0; sent < 10_000; sent += 100) {
      const batch = await Promise.all(Array.from({ length: 100 }, () => me()));
      for (const { csrfToken, setCookie } of batch) {
        tokens.add(csrfToken);
        expect(setCookie).toMatch(/^sid=a\./);
      }
    }
    expect(tokens.size).toBe(10_000);
    expect(await storedSessions()).toBe(before);
  }, 180_000);

  it('when a visitor signs up with its anonymous token, then exactly one session is stored and it is signed in', async () => {
    const before = await storedSessions();
    const anonymous = await me();
    const cookie = anonymous.setCookie?.split(';')[0] ?? '';
    const signup = await fetch(`${baseUrl}/v1/auth/signup`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json', 'x-csrf-token': anonymous.csrfToken },
      body: JSON.stringify({ email: uniqueEmail(), password: PASSWORD, name: 'Ada' }),
    });
    expect(signup.status).toBe(201);
    expect(await storedSessions()).toBe(before + 1);
    const signedIn = signup.headers.get('set-cookie')?.split(';')[0] ?? '';
    expect(signedIn).toMatch(/^sid=s%3A/);
    const res = await fetch(`${baseUrl}/v1/auth/me`, { headers: { cookie: signedIn } });
    expect(((await res.json()) as { user: unknown }).user).not.toBeNull();
  });

  it('when a visitor calls GET /v1/auth/me again with its cookie, then the same token comes back and no cookie is set', async () => {
    const first = await me();
    const again = await me(first.setCookie?.split(';')[0]);
    expect(again.csrfToken).toBe(first.csrfToken);
    expect(again.setCookie).toBeNull();
  });
});

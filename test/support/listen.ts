import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestApp } from './app.js';

export interface Listening {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  origin: string;
  close(): Promise<void>;
}

/** The test app on a real socket (a free port on loopback), for clients that are not supertest: a browser, curl, a script. */
export async function listenOnFreePort(t: TestApp): Promise<Listening> {
  const server: Server = t.app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  return {
    origin: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`,
    close: () => new Promise<void>((resolve) => server.close(() => { resolve(); })),
  };
}

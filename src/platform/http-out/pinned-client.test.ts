import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forbiddenAddressReason } from './address-policy.js';
import { OutboundError, PinnedHttpClient } from './pinned-client.js';

let hits: string[] = [];
let server: Server;
let port = 0;

function handler(req: IncomingMessage, res: ServerResponse): void {
  hits.push(req.url ?? '');
  req.resume();
  if (req.url === '/redirect') res.writeHead(302, { location: `http://127.0.0.1:${String(port)}/target` }).end();
  else if (req.url === '/big') res.end('x'.repeat(1024 * 1024));
  else if (req.url === '/hang') res.writeHead(200).write('partial');
  else res.writeHead(200, { 'x-seen': 'yes' }).end('ok');
}

beforeAll(async () => {
  server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
});

async function refusal(client: PinnedHttpClient, url: string): Promise<OutboundError> {
  const err: unknown = await client.post(url, {}, '{}').then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(OutboundError);
  return err as OutboundError;
}

describe('address policy', () => {
  it.each([
    ['127.0.0.1', 'loopback'], ['127.255.0.9', 'loopback'], ['10.1.2.3', 'private'], ['172.16.0.1', 'private'], ['172.31.255.254', 'private'],
    ['192.168.1.1', 'private'], ['100.64.0.1', 'carrier-grade NAT'], ['100.127.255.254', 'carrier-grade NAT'], ['169.254.169.254', 'link-local'],
    ['224.0.0.251', 'multicast'], ['239.255.255.250', 'multicast'], ['0.0.0.0', 'unspecified'], ['::', 'unspecified'], ['::1', 'loopback'],
    ['fc00::1', 'unique local'], ['fdff::1', 'unique local'], ['fe80::1', 'link-local'], ['febf::1', 'link-local'], ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'], ['::ffff:7f00:1', 'loopback'], ['::ffff:10.0.0.1', 'private'], ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:a9fe:a9fe', 'link-local'], ['::ffff:100.64.0.1', 'carrier-grade NAT'], ['::ffff:0.0.0.0', 'unspecified'],
  ])('when the address is %s, then it is refused as %s', (address, label) => {
    expect(forbiddenAddressReason(address)).toContain(label);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '192.169.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])(
    'when the address is public (%s), then it is allowed',
    (address) => {
      expect(forbiddenAddressReason(address)).toBeNull();
    },
  );
});

describe('pinned client, private networks refused', () => {
  const client = new PinnedHttpClient({
    allowPrivateNetworks: false,
    resolve: (host) => Promise.resolve(host === 'metadata.example' ? [{ address: '169.254.169.254', family: 4 }] : [{ address: '::ffff:127.0.0.1', family: 6 }]),
  });
  afterAll(() => client.close());

  it.each([
    `http://127.0.0.1:PORT/`,
    `http://[::1]:PORT/`,
    `http://[::ffff:127.0.0.1]:PORT/`,
    `http://10.0.0.1:PORT/`,
    `http://169.254.169.254/latest/meta-data`,
    `http://metadata.example:PORT/`,
    `http://mapped.example:PORT/`,
  ])('when the target is %s, then nothing is sent', async (template) => {
    hits = [];
    const err = await refusal(client, template.replace('PORT', String(port)));
    expect(err.kind).toBe('blocked_address');
    expect(hits).toEqual([]);
  });

  it('when a hostname resolves to 127.0.0.1 through the system resolver (localhost), then it is refused at connect time', async () => {
    hits = [];
    const system = new PinnedHttpClient({ allowPrivateNetworks: false });
    try {
      expect((await refusal(system, `http://localhost:${String(port)}/`)).kind).toBe('blocked_address');
    } finally {
      await system.close();
    }
    expect(hits).toEqual([]);
  });
});

describe('pinned client, private networks allowed (local receivers)', () => {
  let lookups = 0;
  const client = new PinnedHttpClient({
    allowPrivateNetworks: true,
    timeoutMs: 300,
    maxResponseBytes: 64 * 1024,
    resolve: (host) => {
      lookups += 1;
      // A name no DNS knows: reaching the server proves the socket used the address resolved here.
      return host === 'receiver.invalid' ? Promise.resolve([{ address: '127.0.0.1', family: 4 }]) : Promise.reject(new Error('unknown'));
    },
  });
  afterAll(() => client.close());

  it('when the hook resolves a name, then the connection goes to exactly that address', async () => {
    hits = [];
    lookups = 0;
    const res = await client.post(`http://receiver.invalid:${String(port)}/hello`, { 'content-type': 'application/json' }, '{}');
    expect(res.status).toBe(200);
    expect(res.headers['x-seen']).toBe('yes');
    expect(res.body).toBe('ok');
    expect(hits).toEqual(['/hello']);
    expect(lookups).toBe(1);
  });

  it('when the receiver redirects, then the 3xx is the answer and the redirect target is never requested', async () => {
    hits = [];
    const res = await client.post(`http://127.0.0.1:${String(port)}/redirect`, {}, '{}');
    expect(res.status).toBe(302);
    expect(hits).toEqual(['/redirect']);
  });

  it('when the response is 1 MB, then only the first 64 KB are read', async () => {
    const res = await client.post(`http://127.0.0.1:${String(port)}/big`, {}, '{}');
    expect(res.body.length).toBe(64 * 1024);
  });

  it('when the receiver never finishes, then the request fails as a timeout', async () => {
    expect((await refusal(client, `http://127.0.0.1:${String(port)}/hang`)).kind).toBe('timeout');
  });

  it('when the URL carries credentials or another scheme, then it is refused before any connection', async () => {
    hits = [];
    expect((await refusal(client, `http://u:p@127.0.0.1:${String(port)}/`)).kind).toBe('invalid_url');
    expect((await refusal(client, 'ftp://127.0.0.1/')).kind).toBe('invalid_url');
    expect(hits).toEqual([]);
  });
});

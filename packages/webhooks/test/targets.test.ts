import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { sendWebhook } from '../src/send.ts';
import {
  checkTarget,
  parseNetworks,
  refusedAddress,
  TargetRefusedError,
  urlProblem,
} from '../src/targets.ts';

const none = { allowedNetworks: [] };
const loopback = { allowedNetworks: ['127.0.0.0/8', '::1/128'] };

describe('target policy', () => {
  it.each([
    '127.0.0.1',
    '127.255.0.9',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::1',
    '::',
    'fd00::1',
    'fe80::1',
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
    'ff02::1',
  ])('refuses %s by default', (address) => {
    expect(refusedAddress(address, none)).toMatch(/loopback, private or reserved/);
  });

  it.each(['93.184.215.14', '8.8.8.8', '172.32.0.1', '2606:4700::1111'])('allows public %s', (address) => {
    expect(refusedAddress(address, none)).toBeNull();
  });

  it('allows only the configured networks', () => {
    expect(refusedAddress('127.0.0.1', loopback)).toBeNull();
    expect(refusedAddress('::ffff:127.0.0.1', loopback)).toBeNull();
    expect(refusedAddress('10.0.0.1', loopback)).not.toBeNull();
    expect(parseNetworks(' 127.0.0.0/8 , ::1/128 ')).toEqual(['127.0.0.0/8', '::1/128']);
    expect(() => parseNetworks('127.0.0.1')).toThrow(/not a CIDR/);
    expect(() => parseNetworks('banana/8')).toThrow(/not a CIDR/);
  });

  it('URLs: http(s) only, no credentials, no fragment', () => {
    expect(urlProblem('https://hooks.example.com/x?y=1')).toBeNull();
    expect(urlProblem('ftp://example.com/')).toMatch(/http/);
    expect(urlProblem('https://user:pw@example.com/')).toMatch(/credentials/);
    expect(urlProblem('https://example.com/#frag')).toMatch(/fragment/);
    expect(urlProblem('/relative')).toMatch(/absolute/);
  });

  it('checks the addresses a name resolves to, not the name', async () => {
    // `localhost` looks like any host name; it resolves to loopback.
    await expect(checkTarget('http://localhost:9/hook', none)).rejects.toThrow(TargetRefusedError);
    await expect(checkTarget('http://127.0.0.1:9/hook', none)).rejects.toThrow(TargetRefusedError);
    await expect(checkTarget('http://[::ffff:7f00:1]:9/hook', none)).rejects.toThrow(TargetRefusedError);
    await expect(checkTarget('http://0x7f000001:9/hook', none)).rejects.toThrow(TargetRefusedError);
    await expect(checkTarget('http://localhost:9/hook', loopback)).resolves.toBeUndefined();
  });

  it('a delivery to a name resolving to a refused address is refused at connect time: no byte reaches it', async () => {
    let hits = 0;
    const server = createServer((_req, res) => {
      hits += 1;
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const byName = await sendWebhook(
        `http://localhost:${port}/`,
        '{}',
        {},
        { policy: none, timeoutMs: 5000 },
      );
      expect(byName).toMatchObject({ outcome: 'refused', statusCode: null });
      const byAddress = await sendWebhook(
        `http://127.0.0.1:${port}/`,
        '{}',
        {},
        { policy: none, timeoutMs: 5000 },
      );
      expect(byAddress).toMatchObject({ outcome: 'refused' });
      expect(hits).toBe(0);
      const allowed = await sendWebhook(
        `http://localhost:${port}/`,
        '{}',
        {},
        { policy: loopback, timeoutMs: 5000 },
      );
      expect(allowed).toMatchObject({ outcome: 'succeeded', statusCode: 200 });
      expect(hits).toBe(1);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

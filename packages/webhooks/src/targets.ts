import { lookup as dnsLookup } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { z } from 'zod';

/**
 * Where webhooks may go. Special-purpose addresses (loopback, private, link-local, CGNAT, multicast,
 * reserved, unspecified, documentation) are refused unless one of `allowedNetworks` contains them.
 * The check is on the addresses a name resolves to, at the moment of connecting (see
 * {@link guardedLookup}), so a name that later resolves elsewhere (DNS rebinding) is caught too.
 */
export interface TargetPolicy {
  /** CIDRs allowed although special-purpose, e.g. `127.0.0.0/8` (tests), `10.1.0.0/16` (an internal receiver). */
  allowedNetworks: readonly string[];
}

export class TargetRefusedError extends Error {
  override name = 'TargetRefusedError';
}

const SPECIAL_V4 = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.0.2.0/24',
  '192.88.99.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '198.51.100.0/24',
  '203.0.113.0/24',
  '224.0.0.0/4',
  '240.0.0.0/4',
];
const SPECIAL_V6 = [
  '::/128',
  '::1/128',
  '64:ff9b::/96',
  '64:ff9b:1::/48',
  '100::/64',
  '2001::/23',
  '2001:db8::/32',
  '2002::/16',
  'fc00::/7',
  'fe80::/10',
  'fec0::/10',
  'ff00::/8',
];

function blockList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [net, bits] = cidr.split('/');
    const type = isIP(net ?? '') === 6 ? 'ipv6' : 'ipv4';
    if (!net || bits === undefined || isIP(net) === 0) throw new TypeError(`not a CIDR: "${cidr}"`);
    list.addSubnet(net, Number(bits), type);
  }
  return list;
}

const special = blockList([...SPECIAL_V4, ...SPECIAL_V6]);

/** Parse `a.b.c.d/n,x::/n` (empty: none); throws naming the bad entry. */
export function parseNetworks(value: string | undefined): string[] {
  const cidrs = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  blockList(cidrs);
  return cidrs;
}

/** The env var of allowed networks (`WEBHOOK_ALLOWED_NETWORKS`): CIDRs, comma separated; unset: none. */
export const allowedNetworksEnv = z
  .string()
  .optional()
  .transform((value, c) => {
    try {
      return parseNetworks(value);
    } catch (err) {
      c.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
      return z.NEVER;
    }
  });

/** `::ffff:a.b.c.d` is a.b.c.d. */
function unmapped(address: string): { address: string; family: 4 | 6 } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1]!, family: 4 };
  return { address, family: isIP(address) === 6 ? 6 : 4 };
}

/** Why `address` may not be connected to, or null when it may. */
export function refusedAddress(address: string, policy: TargetPolicy): string | null {
  const { address: a, family } = unmapped(address);
  const type = family === 6 ? 'ipv6' : 'ipv4';
  if (!special.check(a, type)) return null;
  if (policy.allowedNetworks.length > 0 && blockList(policy.allowedNetworks).check(a, type)) return null;
  return `${a} is a loopback, private or reserved address`;
}

export const MAX_WEBHOOK_URL_CHARS = 2000;

/** Syntax of a webhook URL: http(s), a host, no credentials, no fragment. Returns the reason it is refused, or null. */
export function urlProblem(text: string): string | null {
  if (text.length > MAX_WEBHOOK_URL_CHARS) return `must be at most ${MAX_WEBHOOK_URL_CHARS} characters`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'must be an absolute http or https URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http or https URL';
  if (url.username || url.password) return 'must not carry credentials';
  if (url.hash) return 'must not have a fragment';
  if (!url.hostname) return 'must name a host';
  return null;
}

/** The host of a URL as connected to (IPv6 literals without brackets). */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

/**
 * Check a target before registering it (or before sending): a literal address or every address the
 * name resolves to must be allowed. A name that does not resolve now is let through (the delivery
 * checks again when it connects). Throws {@link TargetRefusedError}.
 */
export async function checkTarget(text: string, policy: TargetPolicy): Promise<void> {
  const problem = urlProblem(text);
  if (problem) throw new TargetRefusedError(`url ${problem}`);
  const host = hostOf(new URL(text));
  const addresses = isIP(host)
    ? [host]
    : await new Promise<string[]>((resolve) =>
        dnsLookup(host, { all: true }, (err, list) => resolve(err ? [] : list.map((l) => l.address))),
      );
  for (const address of addresses) {
    const why = refusedAddress(address, policy);
    if (why) throw new TargetRefusedError(`${host} resolves to ${why}`);
  }
}

/**
 * A `lookup` for `http.request`: resolves like the system does, then refuses the connection when any
 * resolved address is not allowed. Literal addresses never reach a lookup: check them first
 * ({@link refusedAddress}).
 */
export function guardedLookup(policy: TargetPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, list) => {
      if (err) return callback(err, '', 0);
      for (const entry of list) {
        const why = refusedAddress(entry.address, policy);
        if (why) return callback(new TargetRefusedError(`${hostname} resolves to ${why}`), '', 0);
      }
      if (options.all) return (callback as unknown as (e: null, l: typeof list) => void)(null, list);
      const first = list[0]!;
      callback(null, first.address, first.family);
    });
  };
}

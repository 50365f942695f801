import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { BlockList, isIP } from 'node:net'

/**
 * A callback URL is an address Arrivals will POST to on a tenant's behalf. Without these rules a
 * tenant could point it at the cloud metadata service, at Redis, or at anything else on the inside.
 * The rules run twice: at subscribe time (a clear 400) and at connect time (the socket connects to
 * the address that was checked, so DNS rebinding between the two gains nothing).
 */
export interface CallbackPolicy {
  /** Lift the address and port rules and allow http (local development and tests only). */
  allowPrivate: boolean
  /** Optional host patterns (`*.logic.azure.com`, `prod-12.westeurope.logic.azure.com`). */
  allowedHosts?: readonly string[]
  /**
   * The ports a callback may use (default 443): the cluster's egress policy opens only these, so a
   * callback on any other port would be accepted here and then time out for a day of retries.
   */
  allowedPorts?: readonly number[]
  /** The resolver; defaults to the system resolver (getaddrinfo, so /etc/hosts applies). */
  lookup?: typeof dnsLookup
}

export class CallbackRefusedError extends Error {
  override readonly name = 'CallbackRefusedError'
  readonly code = 'ERR_CALLBACK_REFUSED'
}

export const MAX_CALLBACK_LENGTH = 4096

/** What CALLBACK_ALLOWED_PORTS defaults to; k8s/components/network-policies opens the same ports. */
export const DEFAULT_CALLBACK_PORTS: readonly number[] = [443]

/**
 * `443,8443` → [443, 8443] (unset or empty → the default); a bad entry is reported through `problem`
 * (the settings reader's, so every problem is listed at once) and left out.
 */
export function parseCallbackPorts(text: string | undefined, problem: (message: string) => void): number[] {
  const entries = (text ?? '').split(',').map((entry) => entry.trim()).filter(Boolean)
  if (entries.length === 0) return [...DEFAULT_CALLBACK_PORTS]
  const ports = entries.map(Number).filter((port) => Number.isInteger(port) && port >= 1 && port <= 65_535)
  if (ports.length !== entries.length) problem(`CALLBACK_ALLOWED_PORTS must list TCP ports (1-65535) separated by commas, e.g. "443,8443", got "${text}"`)
  return ports
}

const blocked = new BlockList()
const reasons: [string, number, 'ipv4' | 'ipv6', string][] = [
  ['0.0.0.0', 8, 'ipv4', 'an unspecified ("this network") address'],
  ['10.0.0.0', 8, 'ipv4', 'a private address'],
  ['100.64.0.0', 10, 'ipv4', 'a carrier-grade NAT (shared) address'],
  ['127.0.0.0', 8, 'ipv4', 'a loopback address'],
  ['169.254.0.0', 16, 'ipv4', 'a link-local address (where cloud metadata services live)'],
  ['172.16.0.0', 12, 'ipv4', 'a private address'],
  ['192.0.0.0', 24, 'ipv4', 'an IETF protocol assignment address'],
  ['192.0.2.0', 24, 'ipv4', 'a documentation address'],
  ['192.168.0.0', 16, 'ipv4', 'a private address'],
  ['198.18.0.0', 15, 'ipv4', 'a benchmarking address'],
  ['198.51.100.0', 24, 'ipv4', 'a documentation address'],
  ['203.0.113.0', 24, 'ipv4', 'a documentation address'],
  ['224.0.0.0', 4, 'ipv4', 'a multicast address'],
  ['240.0.0.0', 4, 'ipv4', 'a reserved address'],
  ['::', 128, 'ipv6', 'an unspecified address'],
  ['::1', 128, 'ipv6', 'a loopback address'],
  ['::', 96, 'ipv6', 'an IPv4-compatible address (deprecated; it can reach internal IPv4 addresses)'],
  ['::ffff:0:0:0', 96, 'ipv6', 'an IPv4-translated address (it can reach internal IPv4 addresses)'],
  ['64:ff9b::', 96, 'ipv6', 'a NAT64 address (it can reach internal IPv4 addresses)'],
  ['64:ff9b:1::', 48, 'ipv6', 'a NAT64 address (it can reach internal IPv4 addresses)'],
  ['100::', 64, 'ipv6', 'a discard-only address'],
  ['2001::', 32, 'ipv6', 'a Teredo address (it can reach internal IPv4 addresses)'],
  ['2001:db8::', 32, 'ipv6', 'a documentation address'],
  ['2002::', 16, 'ipv6', 'a 6to4 address (it can reach internal IPv4 addresses)'],
  ['fc00::', 7, 'ipv6', 'a unique-local address'],
  ['fe80::', 10, 'ipv6', 'a link-local address'],
  ['fec0::', 10, 'ipv6', 'a site-local address'],
  ['ff00::', 8, 'ipv6', 'a multicast address'],
]
const ranges = reasons.map(([network, prefix, family, reason]) => {
  const list = new BlockList()
  list.addSubnet(network, prefix, family)
  blocked.addSubnet(network, prefix, family)
  return { list, family, reason }
})

/** Why an IP address must not be called, or undefined when it may. Understands IPv4-mapped IPv6. */
export function blockedAddressReason(address: string): string | undefined {
  const family = isIP(address)
  if (family === 0) return 'not an IP address'
  let ip = address
  let type: 'ipv4' | 'ipv6' = family === 4 ? 'ipv4' : 'ipv6'
  if (type === 'ipv6') {
    const mapped = ipv4Mapped(ip)
    if (mapped) {
      ip = mapped
      type = 'ipv4'
    }
  }
  if (!blocked.check(ip, type)) return undefined
  return ranges.find((range) => range.family === type && range.list.check(ip, type))?.reason ?? 'an internal address'
}

/** `::ffff:7f00:1` and `::ffff:127.0.0.1` → `127.0.0.1`. */
function ipv4Mapped(ipv6: string): string | undefined {
  const match = /^(?:0{0,4}:){0,4}:?(?:0{0,4}:)?ffff:(.+)$/i.exec(ipv6.replace(/^\[|\]$/g, ''))
  if (!match?.[1]) return undefined
  const tail = match[1]
  if (isIP(tail) === 4) return tail
  const parts = tail.split(':')
  if (parts.length !== 2) return undefined
  const [high, low] = parts.map((part) => Number.parseInt(part, 16)) as [number, number]
  if (Number.isNaN(high) || Number.isNaN(low)) return undefined
  return [high >> 8, high & 255, low >> 8, low & 255].join('.')
}

function hostMatches(host: string, pattern: string): boolean {
  const p = pattern.toLowerCase()
  if (p.startsWith('*.')) return host.endsWith(p.slice(1)) && host.length > p.length - 1
  return host === p
}

/**
 * Checks what can be checked without the network: length, syntax, scheme, credentials, the
 * allow-list, and literal IP hosts in any spelling (the WHATWG parser turns `2130706433`, `0x7f.1`
 * and `0177.0.0.1` into `127.0.0.1` before we look).
 */
export function parseCallbackUrl(raw: string, policy: CallbackPolicy): URL {
  if (raw.length > MAX_CALLBACK_LENGTH) throw new CallbackRefusedError(`callback URL is longer than ${MAX_CALLBACK_LENGTH} characters`)
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new CallbackRefusedError('callback URL is not an absolute URL')
  }
  const schemes = policy.allowPrivate ? ['https:', 'http:'] : ['https:']
  if (!schemes.includes(url.protocol)) {
    throw new CallbackRefusedError(`callback URL must use https${policy.allowPrivate ? ' or http' : ''}, not ${url.protocol.replace(':', '')}`)
  }
  if (url.username || url.password) throw new CallbackRefusedError('callback URL must not carry credentials before the host')
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (!host) throw new CallbackRefusedError('callback URL has no host')
  if (policy.allowedHosts?.length && !policy.allowedHosts.some((pattern) => hostMatches(host, pattern))) {
    throw new CallbackRefusedError(`callback host ${host} is not in the allowed hosts (${policy.allowedHosts.join(', ')})`)
  }
  if (!policy.allowPrivate) {
    if (isIP(host)) {
      const reason = blockedAddressReason(host)
      if (reason) throw new CallbackRefusedError(`callback host ${host} is ${reason}`)
    } else if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.internal') || host.endsWith('.local')) {
      throw new CallbackRefusedError(`callback host ${host} names an internal host`)
    }
    // https only here, so an absent port is 443.
    const port = url.port ? Number(url.port) : 443
    const allowed = policy.allowedPorts ?? DEFAULT_CALLBACK_PORTS
    if (!allowed.includes(port)) throw new CallbackRefusedError(`callback port ${port} is not allowed; allowed ports: ${allowed.join(', ')}`)
  }
  return url
}

function lookupAll(lookup: typeof dnsLookup, host: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    lookup(host, { all: true, verbatim: true }, (error, addresses) => (error ? reject(error) : resolve(addresses)))
  })
}

/** Resolves the host and refuses it when any of its addresses is internal. */
export async function checkCallbackUrl(raw: string, policy: CallbackPolicy): Promise<URL> {
  const url = parseCallbackUrl(raw, policy)
  if (policy.allowPrivate) return url
  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (isIP(host)) return url
  let addresses: LookupAddress[]
  try {
    addresses = await lookupAll(policy.lookup ?? dnsLookup, host)
  } catch (error) {
    throw new CallbackRefusedError(`callback host ${host} does not resolve (${(error as NodeJS.ErrnoException).code ?? 'lookup failed'})`)
  }
  for (const { address } of addresses) {
    const reason = blockedAddressReason(address)
    if (reason) throw new CallbackRefusedError(`callback host ${host} resolves to ${address}, ${reason}`)
  }
  return url
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void

/**
 * A `lookup` for net/tls/undici connect options: resolves with the system resolver, refuses when any
 * address is internal, and hands the socket only checked addresses, so the connection goes exactly
 * where the check looked.
 */
export function createSafeLookup(policy: CallbackPolicy) {
  const lookup = policy.lookup ?? dnsLookup
  return function safeLookup(hostname: string, options: { all?: boolean; family?: number | string } | number, callback: LookupCallback): void {
    const all = typeof options === 'object' && options.all === true
    lookupAll(lookup, hostname).then((addresses) => {
      if (!policy.allowPrivate) {
        for (const { address } of addresses) {
          const reason = blockedAddressReason(address)
          if (reason) {
            const error: NodeJS.ErrnoException = new CallbackRefusedError(`refusing to connect: ${hostname} resolves to ${address}, ${reason}`)
            error.code = 'ERR_CALLBACK_REFUSED'
            callback(error, all ? [] : '', 0)
            return
          }
        }
      }
      if (all) callback(null, addresses)
      else if (addresses[0]) callback(null, addresses[0].address, addresses[0].family)
      else callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0)
    }, (error: NodeJS.ErrnoException) => callback(error, all ? [] : '', 0))
  }
}

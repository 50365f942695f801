import { describe, expect, it } from 'vitest'
import type { LookupAddress } from 'node:dns'
import { blockedAddressReason, checkCallbackUrl, createSafeLookup, parseCallbackPorts, parseCallbackUrl, CallbackRefusedError, type CallbackPolicy } from '../src/index.js'

function fakeResolver(table: Record<string, string[]>): NonNullable<CallbackPolicy['lookup']> {
  return ((host: string, _options: unknown, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => {
    const addresses = table[host]
    if (!addresses) callback(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }), [])
    else callback(null, addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })))
  }) as unknown as NonNullable<CallbackPolicy['lookup']>
}

const strict: CallbackPolicy = {
  allowPrivate: false,
  lookup: fakeResolver({
    'flow.example.com': ['20.50.2.10'],
    'inward.example.com': ['10.1.2.3'],
    'mixed.example.com': ['20.50.2.10', '169.254.169.254'],
    'v6.example.com': ['fd00::1'],
  }),
}

describe('blockedAddressReason', () => {
  it.each([
    ['127.0.0.1', 'loopback'], ['10.0.0.1', 'private'], ['172.31.255.255', 'private'], ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'], ['100.64.0.1', 'carrier-grade'], ['0.0.0.0', 'unspecified'],
    ['::1', 'loopback'], ['::', 'unspecified'], ['fe80::1', 'link-local'], ['fd12:3456::1', 'unique-local'],
    ['::ffff:127.0.0.1', 'loopback'], ['::ffff:7f00:1', 'loopback'], ['::ffff:a9fe:a9fe', 'link-local'], ['224.0.0.1', 'multicast'],
    ['::7f00:1', 'IPv4-compatible'], ['::127.0.0.1', 'IPv4-compatible'], ['::ffff:0:7f00:1', 'IPv4-translated'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo'],
  ])('refuses %s as %s', (address, word) => {
    expect(blockedAddressReason(address)).toContain(word)
  })

  it.each(['20.50.2.10', '8.8.8.8', '2603:1030::1', '172.32.0.1', '::ffff:8.8.8.8', '2001:4860:4860::8888'])('allows public %s', (address) => {
    expect(blockedAddressReason(address)).toBeUndefined()
  })
})

describe('parseCallbackUrl', () => {
  it.each([
    ['http://flow.example.com/x', 'must use https'],
    ['ftp://flow.example.com/x', 'must use https'],
    ['not a url', 'not an absolute URL'],
    ['https://user:pw@flow.example.com/', 'credentials'],
    ['https://2130706433/hook', 'loopback'],
    ['https://0x7f.1/hook', 'loopback'],
    ['https://0177.0.0.1/hook', 'loopback'],
    ['https://[::ffff:127.0.0.1]/hook', 'loopback'],
    ['https://[fd00::1]/hook', 'unique-local'],
    ['https://169.254.169.254/latest/meta-data', 'link-local'],
    ['https://localhost:8443/', 'internal host'],
    [`https://flow.example.com/${'a'.repeat(5000)}`, 'longer than'],
  ])('refuses %s', (url, message) => {
    expect(() => parseCallbackUrl(url, strict)).toThrow(message)
  })

  it('applies the host allow-list', () => {
    const policy = { ...strict, allowedHosts: ['*.logic.azure.com'] }
    expect(parseCallbackUrl('https://prod-01.westeurope.logic.azure.com/workflows/1?sig=x', policy).hostname).toBe('prod-01.westeurope.logic.azure.com')
    expect(() => parseCallbackUrl('https://logic.azure.com.evil.example/x', policy)).toThrow('not in the allowed hosts')
  })

  it('allows http and loopback when private callbacks are allowed', () => {
    expect(parseCallbackUrl('http://127.0.0.1:9999/hook', { allowPrivate: true }).port).toBe('9999')
  })

  it('allows port 443 only by default, and says which ports are allowed', () => {
    expect(parseCallbackUrl('https://flow.example.com/x', strict).hostname).toBe('flow.example.com')
    expect(parseCallbackUrl('https://flow.example.com:443/x', strict).hostname).toBe('flow.example.com')
    expect(() => parseCallbackUrl('https://flow.example.com:8443/x', strict)).toThrow('callback port 8443 is not allowed; allowed ports: 443')
  })

  it('allows the configured ports, and any port when private callbacks are allowed', () => {
    const policy = { ...strict, allowedPorts: [443, 8443] }
    expect(parseCallbackUrl('https://flow.example.com:8443/x', policy).port).toBe('8443')
    expect(() => parseCallbackUrl('https://flow.example.com/x', { ...strict, allowedPorts: [8443] })).toThrow('allowed ports: 8443')
    expect(() => parseCallbackUrl('https://flow.example.com:9000/x', policy)).toThrow('allowed ports: 443, 8443')
    expect(parseCallbackUrl('https://flow.example.com:9000/x', { allowPrivate: true }).port).toBe('9000')
  })
})

describe('parseCallbackPorts', () => {
  it('reads a comma-separated list, 443 when unset or empty', () => {
    const problems: string[] = []
    expect(parseCallbackPorts(undefined, (message) => problems.push(message))).toEqual([443])
    expect(parseCallbackPorts(' ', (message) => problems.push(message))).toEqual([443])
    expect(parseCallbackPorts('443, 8443', (message) => problems.push(message))).toEqual([443, 8443])
    expect(problems).toEqual([])
  })

  it.each(['https', '0', '65536', '443;8443', '44.3'])('reports "%s" as a problem naming the setting', (text) => {
    const problems: string[] = []
    parseCallbackPorts(text, (message) => problems.push(message))
    expect(problems).toHaveLength(1)
    expect(problems[0]).toContain('CALLBACK_ALLOWED_PORTS')
  })
})

describe('checkCallbackUrl', () => {
  it('refuses a port outside the allowed ones at subscribe time too', async () => {
    await expect(checkCallbackUrl('https://flow.example.com:8080/x', strict)).rejects.toThrow('allowed ports: 443')
  })

  it('accepts a name that resolves to public addresses', async () => {
    await expect(checkCallbackUrl('https://flow.example.com/hook?sig=secret', strict)).resolves.toBeInstanceOf(URL)
  })

  it.each([
    ['https://inward.example.com/hook', 'resolves to 10.1.2.3, a private address'],
    ['https://mixed.example.com/hook', 'resolves to 169.254.169.254'],
    ['https://v6.example.com/hook', 'unique-local'],
    ['https://nowhere.example.com/hook', 'does not resolve'],
  ])('refuses %s', async (url, message) => {
    const error = await checkCallbackUrl(url, strict).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CallbackRefusedError)
    expect((error as Error).message).toContain(message)
  })

  it('uses the system resolver, so /etc/hosts names like localhost are checked too', async () => {
    await expect(checkCallbackUrl('https://ip6-localhost/x', { allowPrivate: false })).rejects.toThrow(/loopback|does not resolve/)
  })
})

describe('createSafeLookup', () => {
  it('hands the socket only checked addresses and refuses inward names at connect time', async () => {
    const lookup = createSafeLookup(strict)
    const ok = await new Promise((resolve, reject) => lookup('flow.example.com', { all: true }, (error, addresses) => (error ? reject(error) : resolve(addresses))))
    expect(ok).toEqual([{ address: '20.50.2.10', family: 4 }])
    const refused = await new Promise<NodeJS.ErrnoException | null>((resolve) => lookup('inward.example.com', {}, (error) => resolve(error)))
    expect(refused?.code).toBe('ERR_CALLBACK_REFUSED')
  })
})

import type { AddressInfo } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { loggerOptions } from '@arrivals/service-kit'
import { createNamespace, logCapture, sendRaw, waitFor } from '@arrivals/test-kit'
import { buildApp } from '../src/app.js'
import { postReceipt, receipt, tenant, testSettings } from './support.js'

const ns = createNamespace('inventory-logs')
const contoso = tenant('contoso')
afterAll(() => ns.cleanup())

describe('no secret in any log line at trace level', () => {
  it('logs neither the API key of a receipt, nor the raw bytes of a request Node cannot parse, nor a key sent in the query string', async () => {
    const capture = logCapture()
    const app = await buildApp(testSettings(ns, [contoso]), { ...(loggerOptions('inventory', 'trace') as object), stream: capture.stream })
    try {
      await app.listen({ port: 0, host: '127.0.0.1' })
      const { port } = app.server.address() as AddressInfo
      expect((await postReceipt(app, contoso, 'store-logs', receipt())).statusCode).toBe(202)
      const answer = await sendRaw(port, `POST /v1/stores/store-logs/receipts HTTP/1.1\r\nHost: localhost\r\nX-API-Key: ${contoso.apiKey}\r\nX-Bad: a\u0000b\r\n\r\n`)
      expect(answer).toMatch(/^HTTP\/1\.1 400/)
      const queried = await app.inject({ method: 'GET', url: `/v1/stores?api_key=${contoso.apiKey}` })
      expect(queried.statusCode).toBe(401)
      await waitFor(() => capture.lines.some((line) => line.includes('client error')), { what: 'the parse error logged' })
      const log = capture.text()
      expect(log).toContain('receipt published')
      expect(log).toContain('/v1/stores?api_key=[redacted]')
      expect(log).not.toContain(contoso.apiKey)
      expect(log).not.toContain('rawPacket')
    } finally {
      await app.close()
    }
  })
})

#!/usr/bin/env node
// A stand-in for a Power Automate flow's callback endpoint, for `docker compose up`: it answers every
// webhook with 202 and logs one JSON line per delivery (webhook-id, timestamp, event fields), so a
// newcomer can watch a notification arrive with `docker compose logs -f receiver`.
// It does not verify signatures (it does not know the subscription's secret); `pnpm demo` does.
import { createServer } from 'node:http'

const port = Number(process.env.PORT ?? 4000)
const maxBody = 1024 * 1024

const log = (fields) => process.stdout.write(`${JSON.stringify(fields)}\n`)

const server = createServer((request, response) => {
  if (request.method === 'GET' && request.url === '/healthz') {
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}')
    return
  }
  const chunks = []
  let size = 0
  request.on('data', (chunk) => {
    size += chunk.length
    if (size <= maxBody) chunks.push(chunk)
  })
  request.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8')
    let body
    try { body = JSON.parse(text) } catch { body = text.slice(0, 200) }
    // The path is logged without its query string: a real flow's callback carries a signature there.
    log({
      msg: 'webhook received',
      time: new Date().toISOString(),
      method: request.method,
      path: (request.url ?? '/').split('?')[0],
      webhookId: request.headers['webhook-id'],
      webhookTimestamp: request.headers['webhook-timestamp'],
      signed: typeof request.headers['webhook-signature'] === 'string',
      body,
    })
    response.writeHead(size > maxBody ? 413 : 202).end()
  })
})

server.listen(port, '0.0.0.0', () => log({ msg: 'listening', port: server.address().port }))
const stop = () => server.close(() => process.exit(0))
process.on('SIGTERM', stop)
process.on('SIGINT', stop)

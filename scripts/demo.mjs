#!/usr/bin/env node
// pnpm demo: on a running stack (docker compose up, or pnpm start), does what Power Automate does
// when a maker saves a flow with the "When goods are received at a store" trigger, then what a store
// system does when goods arrive, and shows the notification exactly as the flow receives it.
//
//   SUBSCRIPTIONS_URL   the connector API            (default http://localhost:3002)
//   INVENTORY_URL       the inventory service        (default http://localhost:3001)
//   ARRIVALS_API_KEY    a tenant's API key           (default: the compose file's demo key)
//   DEMO_CALLBACK_HOST  how the dispatcher reaches this machine (default 127.0.0.1; with compose
//                       on Docker Desktop: host.docker.internal)
import { randomBytes, randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import { Webhook } from 'standardwebhooks'
import { readConnectorDefinition } from '../test/e2e/src/connector-definition.ts'

const subscriptionsUrl = (process.env.SUBSCRIPTIONS_URL ?? 'http://localhost:3002').replace(/\/$/, '')
const inventoryUrl = (process.env.INVENTORY_URL ?? 'http://localhost:3001').replace(/\/$/, '')
const apiKey = process.env.ARRIVALS_API_KEY ?? 'demo-key-0123456789abcdef'
const callbackHost = process.env.DEMO_CALLBACK_HOST ?? '127.0.0.1'
const storeId = 'demo-store'

const bold = (text) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text)
const step = (text) => console.log(`\n${bold(`▸ ${text}`)}`)

async function call(method, url, body, headers = {}) {
  const response = await fetch(url, {
    method,
    headers: { 'x-api-key': apiKey, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(15_000),
  }).catch((error) => {
    throw new Error(`${method} ${url} failed (${error.cause?.code ?? error.message}): is the stack running? (docker compose up, or pnpm start)`)
  })
  const text = await response.text()
  return { status: response.status, headers: response.headers, text, json: text ? safeJson(text) : undefined }
}

function safeJson(text) {
  try { return JSON.parse(text) } catch { return undefined }
}

function findSecret(node) {
  if (typeof node === 'string') return node.startsWith('whsec_') ? node : undefined
  if (node && typeof node === 'object') for (const value of Object.values(node)) { const found = findSecret(value); if (found) return found }
  return undefined
}

// 1. The flow's callback endpoint: what Power Automate hosts at prod-NN.<region>.logic.azure.com.
let resolveNotification
const notification = new Promise((resolve) => { resolveNotification = resolve })
const receiver = createServer((request, response) => {
  const chunks = []
  request.on('data', (chunk) => chunks.push(chunk))
  request.on('end', () => {
    resolveNotification({ url: request.url, headers: request.headers, body: Buffer.concat(chunks).toString('utf8') })
    response.writeHead(202).end()
  })
})
await new Promise((resolve) => receiver.listen(0, callbackHost === '127.0.0.1' ? '127.0.0.1' : '0.0.0.0', resolve))
const sig = randomBytes(24).toString('base64url')
const workflowId = randomUUID().replaceAll('-', '')
const callbackUrl = `http://${callbackHost}:${receiver.address().port}/workflows/${workflowId}/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${sig}`

let location
let exitCode = 0
try {
  step(`Import the connector: GET ${subscriptionsUrl}/connector/apiDefinition.swagger.json`)
  const definition = await call('GET', `${subscriptionsUrl}/connector/apiDefinition.swagger.json`)
  if (definition.status !== 200) throw new Error(`the connector definition answered ${definition.status}`)
  const connector = readConnectorDefinition(definition.json)
  console.log(`  trigger ${connector.trigger.operationId} at POST ${connector.trigger.path}; callback goes in "${connector.trigger.notificationProperty}"; filters: ${connector.trigger.filterProperties.join(', ')}`)

  step(`Save a flow "When goods are received at ${storeId}": POST ${connector.trigger.path}`)
  const subscribe = await call('POST', `${subscriptionsUrl}${connector.trigger.path}`,
    { [connector.trigger.notificationProperty]: callbackUrl, storeId },
    { 'x-ms-workflow-id': workflowId, 'x-ms-workflow-name': 'Arrivals demo', 'x-ms-trigger-type': 'OpenApiConnectionWebhook' })
  if (subscribe.status !== 201) throw new Error(`the trigger answered ${subscribe.status}: ${subscribe.text}`)
  location = subscribe.headers.get('location')
  const secret = findSecret(subscribe.json)
  console.log(`  201 Created, Location: ${location}`)
  console.log(`  signing secret (shown once): ${secret ? `${secret.slice(0, 10)}…` : 'none!'}`)

  step(`Goods arrive: POST ${inventoryUrl}/v1/stores/${storeId}/receipts`)
  const receipt = await call('POST', `${inventoryUrl}/v1/stores/${storeId}/receipts`, {
    receiptId: `demo-${randomBytes(4).toString('hex')}`,
    supplier: 'Northwind Traders',
    receivedAt: new Date().toISOString(),
    items: [
      { sku: 'OAT-1L', name: 'Oat milk 1 l', quantity: 24, unit: 'case' },
      { sku: 'COFFEE-1KG', name: 'Coffee beans 1 kg', quantity: 6, unit: 'bag' },
    ],
  }, { 'idempotency-key': randomUUID() })
  if (receipt.status !== 202) throw new Error(`inventory answered ${receipt.status}: ${receipt.text}`)
  console.log(`  202 Accepted ${receipt.text}`)

  step('The flow is notified')
  let timer
  const received = await Promise.race([
    notification,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('no notification within 30 s: is the dispatcher running, and can it reach DEMO_CALLBACK_HOST?')), 30_000) }),
  ]).finally(() => clearTimeout(timer))
  for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) console.log(`  ${name}: ${received.headers[name]}`)
  console.log(JSON.stringify(JSON.parse(received.body), null, 2).replace(/^/gm, '  '))
  if (new URL(received.url, 'http://x').searchParams.get('sig') !== sig) throw new Error('the notification came to a callback URL without our sig')
  new Webhook(secret).verify(received.body, {
    'webhook-id': received.headers['webhook-id'],
    'webhook-timestamp': received.headers['webhook-timestamp'],
    'webhook-signature': received.headers['webhook-signature'],
  })
  console.log(`  ${bold('signature verified')} with the subscription's secret (Standard Webhooks, standardwebhooks library)`)
} catch (error) {
  exitCode = 1
  console.error(`\ndemo failed: ${error.message}`)
} finally {
  if (location) {
    step(`Delete the flow: DELETE ${location}`)
    const removed = await call('DELETE', location).catch((error) => ({ status: error.message }))
    console.log(`  ${removed.status}`)
  }
  receiver.closeAllConnections()
  receiver.close()
}
process.exitCode = exitCode

import { describe, expect, it } from 'vitest'
import { brokerMessageLimits, goodsReceivedEvent, parseBoundedJson, parseDeliveryTask, parseEvent } from '../../src/index.js'
import { jsonDepth } from '../../src/bounded-json.js'
import { sampleData } from '../fixtures.js'

const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`

describe('what is parsed from the broker is bounded', () => {
  it('counts nesting without recursion, ignoring brackets inside strings', () => {
    expect(jsonDepth(Buffer.from('{"a":[1,{"b":"[[[{{{\\"]]]"}]}'))).toBe(3)
    expect(jsonDepth(Buffer.from(nested(100_000)))).toBe(100_000)
  })

  it('refuses an event nested 100,000 deep with a reason, before any recursive step can overflow', () => {
    const event = { ...goodsReceivedEvent({ tenantId: 't', source: 's', data: sampleData() }), deep: 'PLACEHOLDER' }
    const body = JSON.stringify(event).replace('"PLACEHOLDER"', nested(100_000))
    expect(parseEvent(body)).toEqual({ ok: false, reason: `message body is nested deeper than ${brokerMessageLimits.maxDepth} levels` })
    expect(parseDeliveryTask(Buffer.from(body))).toEqual({ ok: false, reason: `delivery task is nested deeper than ${brokerMessageLimits.maxDepth} levels` })
  })

  it('refuses a body over the byte limit before parsing it', () => {
    const body = JSON.stringify({ padding: 'x'.repeat(brokerMessageLimits.maxBytes) })
    const parsed = parseEvent(body)
    expect(parsed.ok).toBe(false)
    expect(!parsed.ok && parsed.reason).toMatch(/message body is \d+ bytes, over the limit of 1048576/)
  })

  it('parses what is within both limits, and says when it is not JSON', () => {
    expect(parseBoundedJson(nested(brokerMessageLimits.maxDepth), 'x')).toEqual({ ok: true, value: expect.any(Array) })
    expect(parseBoundedJson('{"a":', 'the thing')).toEqual({ ok: false, reason: 'the thing is not valid JSON' })
    expect(parseEvent(JSON.stringify(goodsReceivedEvent({ tenantId: 't', source: 's', data: sampleData() }))).ok).toBe(true)
  })
})

import { readFile } from 'node:fs/promises'
import { Parser } from '@asyncapi/parser'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { GOODS_RECEIVED, GoodsReceivedData, GoodsReceivedEvent, validateEvent } from '../src/index.js'

const source = await readFile(new URL('../asyncapi.yaml', import.meta.url), 'utf8')

describe('AsyncAPI document for integrators', () => {
  it('is a valid AsyncAPI 3 document', async () => {
    const { document, diagnostics } = await new Parser().parse(source)
    const errors = diagnostics.filter((d) => d.severity === 0)
    expect(errors.map((e) => `${e.path.join('.')}: ${e.message}`)).toEqual([])
    expect(document?.version()).toBe('3.0.0')
  })

  it('describes the same event as the TypeBox contract', () => {
    const doc = parse(source)
    const schemas = doc.components.schemas
    expect(doc.channels.goodsReceived.address).toBe(GOODS_RECEIVED)
    expect(Object.keys(schemas.GoodsReceivedEvent.properties).sort()).toEqual(Object.keys(GoodsReceivedEvent.properties).sort())
    expect([...schemas.GoodsReceivedEvent.required].sort()).toEqual([...GoodsReceivedEvent.required!].sort())
    expect(Object.keys(schemas.GoodsReceivedData.properties).sort()).toEqual(Object.keys(GoodsReceivedData.properties).sort())
    expect([...schemas.GoodsReceivedData.required].sort()).toEqual([...GoodsReceivedData.required!].sort())
    // Every constraint an integrator relies on (types, lengths, patterns, bounds) is the contract's.
    const constraints = ['type', 'const', 'format', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum', 'minItems', 'maxItems'] as const
    const differences: string[] = []
    const compare = (contract: Record<string, unknown>, documented: Record<string, unknown> | undefined, where: string) => {
      if (!documented) return differences.push(`${where}: not documented`)
      for (const key of constraints) {
        if (contract[key] !== undefined && contract[key] !== documented[key]) differences.push(`${where}.${key}: contract ${String(contract[key])}, document ${String(documented[key])}`)
      }
      const properties = contract.properties as Record<string, Record<string, unknown>> | undefined
      for (const [name, property] of Object.entries(properties ?? {})) {
        const target = (documented.properties as Record<string, Record<string, unknown>> | undefined)?.[name]
        compare(property, target?.$ref === '#/components/schemas/GoodsReceivedData' ? schemas.GoodsReceivedData : target, `${where}.${name}`)
      }
      if (contract.items) compare(contract.items as Record<string, unknown>, documented.items as Record<string, unknown> | undefined, `${where}[]`)
    }
    compare(GoodsReceivedEvent as unknown as Record<string, unknown>, schemas.GoodsReceivedEvent, 'GoodsReceivedEvent')
    expect(differences).toEqual([])

    for (const example of doc.components.messages.goodsReceived.examples) {
      expect(validateEvent(example.payload)).toMatchObject({ ok: true })
    }
  })
})

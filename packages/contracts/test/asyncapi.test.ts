import { readFile } from 'node:fs/promises'
import { Parser } from '@asyncapi/parser'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { catalogue, GOODS_RECEIVED, GoodsReceivedData, GoodsReceivedEvent, validateEvent } from '../src/index.js'

type Json = Record<string, unknown>

const source = await readFile(new URL('../asyncapi.yaml', import.meta.url), 'utf8')

describe('AsyncAPI document for integrators', () => {
  it('is a valid AsyncAPI 3 document', async () => {
    const { document, diagnostics } = await new Parser().parse(source)
    const errors = diagnostics.filter((d) => d.severity === 0)
    expect(errors.map((e) => `${e.path.join('.')}: ${e.message}`)).toEqual([])
    expect(document?.version()).toBe('3.0.0')
  })

  const doc = parse(source)
  const schemas = doc.components.schemas as Record<string, Json>
  /** A schema of the document with a `$ref` followed (local component schemas only). */
  const followed = (node: Json | undefined): Json | undefined =>
    typeof node?.$ref === 'string' ? schemas[node.$ref.replace('#/components/schemas/', '')] : node

  it('has a channel, a message and schemas for every event type of the catalogue, and nothing else', () => {
    const addresses = Object.values(doc.channels as Record<string, { address: string }>).map((channel) => channel.address)
    expect(addresses.sort()).toEqual(catalogue.map((entry) => entry.type).sort())
  })

  for (const entry of catalogue) {
    it(`describes ${entry.type} as the catalogue's TypeBox contract does, constraint by constraint`, () => {
      const [channelName, channel] = Object.entries(doc.channels as Record<string, { address: string; messages: Record<string, Json> }>)
        .find(([, candidate]) => candidate.address === entry.type)!
      const message = doc.components.messages[channelName] as { payload: Json; examples: { payload: unknown }[] }
      expect(Object.values(channel.messages)[0]!.$ref).toBe(`#/components/messages/${channelName}`)
      const event = followed(message.payload)!
      const data = followed((event.properties as Record<string, Json>).data)!
      const contract = entry.event as unknown as Json
      const contractData = entry.data as unknown as Json
      expect(Object.keys(event.properties as Json).sort()).toEqual(Object.keys(contract.properties as Json).sort())
      expect([...event.required as string[]].sort()).toEqual([...contract.required as string[]].sort())
      expect(Object.keys(data.properties as Json).sort()).toEqual(Object.keys(contractData.properties as Json).sort())
      expect([...data.required as string[]].sort()).toEqual([...contractData.required as string[]].sort())

      // Every constraint an integrator relies on (types, lengths, patterns, bounds, allowed values) is the contract's.
      const constraints = ['type', 'const', 'format', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum', 'minItems', 'maxItems'] as const
      const differences: string[] = []
      const compare = (contract: Json, documented: Json | undefined, where: string) => {
        if (!documented) return differences.push(`${where}: not documented`)
        for (const key of constraints) {
          if (contract[key] !== undefined && contract[key] !== documented[key]) differences.push(`${where}.${key}: contract ${String(contract[key])}, document ${String(documented[key])}`)
        }
        // A union of literals (TypeBox) is an enum of strings in the document.
        const literals = Array.isArray(contract.anyOf) && (contract.anyOf as Json[]).every((branch) => branch.const !== undefined)
          ? (contract.anyOf as Json[]).map((branch) => branch.const) : contract.enum
        if (literals !== undefined && JSON.stringify(literals) !== JSON.stringify(documented.enum)) {
          differences.push(`${where}.enum: contract ${JSON.stringify(literals)}, document ${JSON.stringify(documented.enum)}`)
        }
        for (const [name, property] of Object.entries((contract.properties ?? {}) as Record<string, Json>)) {
          compare(property, followed((documented.properties as Record<string, Json> | undefined)?.[name]), `${where}.${name}`)
        }
        if (contract.items) compare(contract.items as Json, documented.items as Json | undefined, `${where}[]`)
      }
      compare(contract, event, entry.type)
      expect(differences).toEqual([])

      expect(message.examples.length).toBeGreaterThan(0)
      for (const example of message.examples) expect(validateEvent(example.payload)).toMatchObject({ ok: true })
    })
  }

  it('describes GoodsReceived by its historical names', () => {
    expect(doc.channels.goodsReceived.address).toBe(GOODS_RECEIVED)
    expect(Object.keys(schemas.GoodsReceivedEvent!.properties as Json).sort()).toEqual(Object.keys(GoodsReceivedEvent.properties).sort())
    expect(Object.keys(schemas.GoodsReceivedData!.properties as Json).sort()).toEqual(Object.keys(GoodsReceivedData.properties).sort())
  })
})

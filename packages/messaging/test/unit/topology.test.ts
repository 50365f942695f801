import { brokerTopology, QUORUM_REPLICAS } from '@arrivals/contracts'
import type { Channel } from 'amqplib'
import { describe, expect, it } from 'vitest'
import { applyTopology, refusedForCreationOnlyArgument } from '../../src/topology.js'

function recordingChannel() {
  const queues = new Map<string, Record<string, string | number>>()
  return {
    queues,
    async assertExchange(exchange: string) { return { exchange } },
    async assertQueue(name: string, options?: { arguments?: Record<string, string | number> }) {
      queues.set(name, options?.arguments ?? {})
      return { queue: name, messageCount: 0, consumerCount: 0 }
    },
    async bindQueue() { return {} },
  } as unknown as Pick<Channel, 'assertExchange' | 'assertQueue' | 'bindQueue'> & { queues: typeof queues }
}

describe('refusedForCreationOnlyArgument', () => {
  it('recognises only the refusal over the replica count', () => {
    expect(refusedForCreationOnlyArgument(new Error("Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - inequivalent arg 'x-quorum-initial-group-size' for queue 'q'\""))).toBe(true)
    expect(refusedForCreationOnlyArgument(new Error("406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'q'\""))).toBe(false)
  })
})

describe('applyTopology', () => {
  const topology = brokerTopology('ns', { retryDelaysMs: [5_000] })

  it('creates every quorum queue with its replica count', async () => {
    const channel = recordingChannel()
    await applyTopology(channel, topology)
    expect(QUORUM_REPLICAS).toBe(3)
    expect(channel.queues.size).toBe(4)
    for (const args of channel.queues.values()) expect(args['x-quorum-initial-group-size']).toBe(QUORUM_REPLICAS)
  })

  it('declares a queue made before the replica count without it, so an upgrade is not refused', async () => {
    const channel = recordingChannel()
    await applyTopology(channel, topology, async (queue) => queue.name !== 'ns.deliveries')
    expect(channel.queues.get('ns.deliveries')).not.toHaveProperty('x-quorum-initial-group-size')
    expect(channel.queues.get('ns.deliveries')).toMatchObject({ 'x-queue-type': 'quorum', 'x-overflow': 'reject-publish' })
    expect(channel.queues.get('ns.dispatcher.events')).toHaveProperty('x-quorum-initial-group-size', QUORUM_REPLICAS)
  })
})

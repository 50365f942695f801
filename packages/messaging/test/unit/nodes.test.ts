import { describe, expect, it } from 'vitest'
import { brokerNodes, firstNode, nodeLabel, reconnectDelayMs } from '../../src/nodes.js'

describe('brokerNodes', () => {
  it('takes one URL or a comma-separated list of a cluster\'s nodes', () => {
    expect(brokerNodes('amqp://guest:guest@rabbit:5672')).toEqual(['amqp://guest:guest@rabbit:5672'])
    expect(brokerNodes(' amqp://a:5672 ,amqps://b:5671,')).toEqual(['amqp://a:5672', 'amqps://b:5671'])
  })

  it('refuses what is not an amqp(s) URL, without repeating the credentials', () => {
    expect(() => brokerNodes('')).toThrow(/empty/)
    expect(() => brokerNodes('amqp://a:5672,http://user:s3cret@b')).toThrow(/URL 2 of 2 is http:\/\/, expected amqp/)
    expect(() => brokerNodes('amqp://a:5672,not a url')).toThrow(/URL 2 of 2 is not a URL/)
    try {
      brokerNodes('http://user:s3cret@b')
    } catch (error) {
      expect((error as Error).message).not.toContain('s3cret')
    }
  })

  it('labels a node for logs without user or password', () => {
    expect(nodeLabel('amqps://user:s3cret@rabbit-0.rabbit:5671/vhost')).toBe('amqps://rabbit-0.rabbit:5671')
  })
})

describe('firstNode', () => {
  it('spreads replicas over every node, never past the last', () => {
    expect(firstNode(3, () => 0)).toBe(0)
    expect(firstNode(3, () => 0.5)).toBe(1)
    expect(firstNode(3, () => 0.999)).toBe(2)
    expect(firstNode(3, () => 1)).toBe(2)
    expect(firstNode(1, () => 0.7)).toBe(0)
  })
})

describe('reconnectDelayMs', () => {
  it('tries the next node at once while some node of this round is untried', () => {
    expect(reconnectDelayMs(1, 3, () => 1)).toBe(0)
    expect(reconnectDelayMs(2, 3, () => 1)).toBe(0)
    expect(reconnectDelayMs(4, 3, () => 1)).toBe(0)
  })

  it('backs off once every node failed: doubling per round from 100 ms to 10 s, jittered over the upper half', () => {
    expect(reconnectDelayMs(3, 3, () => 1)).toBe(200)
    expect(reconnectDelayMs(3, 3, () => 0)).toBe(100)
    expect(reconnectDelayMs(1, 1, () => 1)).toBe(200)
    expect(reconnectDelayMs(2, 1, () => 1)).toBe(400)
    expect(reconnectDelayMs(30, 1, () => 1)).toBe(10_000)
    expect(reconnectDelayMs(30, 1, () => 0)).toBe(5_000)
  })

  it('pauses briefly after losing a connection that was up', () => {
    expect(reconnectDelayMs(0, 3, () => 0)).toBe(50)
    expect(reconnectDelayMs(0, 3, () => 1)).toBe(100)
  })
})

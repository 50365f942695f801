/**
 * The nodes of one RabbitMQ cluster from AMQP_URL: one `amqp(s)://` URL, or several separated by
 * commas. Throws a RangeError that names the bad entry (never its credentials).
 */
export function brokerNodes(url: string): string[] {
  const nodes = url.split(',').map((entry) => entry.trim()).filter((entry) => entry.length > 0)
  if (nodes.length === 0) throw new RangeError('the broker URL is empty; expected amqp(s)://host[:port] URLs separated by commas')
  for (const [index, node] of nodes.entries()) {
    let protocol: string
    try {
      protocol = new URL(node).protocol
    } catch {
      throw new RangeError(`broker URL ${index + 1} of ${nodes.length} is not a URL`)
    }
    if (protocol !== 'amqp:' && protocol !== 'amqps:') throw new RangeError(`broker URL ${index + 1} of ${nodes.length} is ${protocol}//, expected amqp:// or amqps://`)
  }
  return nodes
}

/** A node as it may appear in a log: scheme, host and port; never the user or password. */
export function nodeLabel(node: string): string {
  const url = new URL(node)
  return `${url.protocol}//${url.host}`
}

/** Where a client starts: a random node, so the replicas of a service spread over the cluster. */
export function firstNode(nodeCount: number, random: () => number = Math.random): number {
  return Math.min(nodeCount - 1, Math.floor(random() * nodeCount))
}

/**
 * How long to wait before the next connection attempt, after `failures` attempts in a row failed
 * (0: the connection was up and has just been lost). Each failure moves to the next node, so a node
 * not yet tried in this round is tried at once; once every node failed, the wait doubles per round
 * from 100 ms up to 10 s, jittered over its upper half so replicas do not come back in step.
 */
export function reconnectDelayMs(failures: number, nodeCount: number, random: () => number = Math.random): number {
  if (failures > 0 && failures % nodeCount !== 0) return 0
  const round = Math.floor(failures / nodeCount)
  const ceiling = Math.min(100 * 2 ** round, 10_000)
  return Math.round(ceiling / 2 + (random() * ceiling) / 2)
}

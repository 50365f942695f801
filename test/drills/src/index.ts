export { RabbitNode } from './rabbit-node.js'
export { RedisServer } from './redis-server.js'
export { RabbitCluster, RedisCluster } from './clusters.js'

export { RabbitNode } from './rabbit-node.js'
export { RedisServer } from './redis-server.js'

export {
  createBroker,
  type Broker, type BrokerLog, type BrokerOptions, type ConsumedMessage, type ConsumerOptions, type DrainOptions,
  type MessageHandler, type OutgoingMessage, type Verdict,
} from './broker.js'
export { createEventPublisher, type EventPublisher, type EventPublisherOptions, type PublishOptions } from './event-publisher.js'
export { deliveryTaskMessage } from './delivery-task-message.js'
export { InvalidEventError, PublishUnavailableError } from './errors.js'
export { brokerNodes, firstNode, nodeLabel, reconnectDelayMs } from './nodes.js'
export { applyTopology } from './topology.js'

export { testInfrastructure, createNamespace, type TestNamespace } from './namespace.js'
export { startReceiver, type Receiver, type ReceivedRequest, type ReceiverHandler } from './receiver.js'
export { waitFor } from './wait-for.js'

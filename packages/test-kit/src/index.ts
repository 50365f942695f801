export { testInfrastructure, createNamespace, type TestNamespace } from './namespace.js'
export { startReceiver, type Receiver, type ReceivedRequest, type ReceiverHandler } from './receiver.js'
export { freePort, spawnService, type ServiceProcess, type SpawnOptions } from './service-process.js'
export { waitFor } from './wait-for.js'

// The package's `./delivery` entry: the pipeline without fastify, for the app and the benchmark.
export { createDispatcher, type Dispatcher, type DispatcherOptions } from '../runtime/dispatcher.js'

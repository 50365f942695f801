export { ServiceProcess, freePort, repoRoot, type ServiceName, type ExitStatus } from './service-process.js'
export { Stack, type StackOptions, type Tenant } from './stack.js'
export { readConnectorDefinition, resolveRefs, type ConnectorDefinition, type ConnectorTrigger } from './connector-definition.js'
export { PowerAutomate, Flow, type Notification, type Answer, type FlowFilters, type StrayRequest } from './power-automate.js'
export { reconcile, settle, describeAccount, flowMatches, GOODS_RECEIVED_TRIGGER, type AcceptedReceipt, type DeliveryAccount } from './ledger.js'
export {
  postAdjustment, postReceipt, receiptBody, ReceiptSender, DirectPublisher, type AdjustmentSpec, type ReceiptSpec, type ReceiptItem, type PostResult,
} from './receipts.js'
export { printLogsOnFailure } from './hooks.js'

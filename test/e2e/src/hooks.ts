import { beforeEach } from 'vitest'

/** When a test fails, print what every process logged: the services' own account of what happened. */
export function printLogsOnFailure(logs: () => string | undefined): void {
  beforeEach((context) => {
    context.onTestFailed(() => {
      const text = logs()
      if (text) console.error(`---- service logs (${context.task.name}) ----\n${text}`)
    })
  })
}

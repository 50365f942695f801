import type { ChildProcess } from 'node:child_process'

/** Keeps the last chunks a broker process printed, for the message when it fails to start; resolves on exit. */
export function watchChild(child: ChildProcess, output: string[]): Promise<void> {
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8')
    stream?.on('data', (chunk: string) => {
      output.push(chunk)
      if (output.length > 200) output.shift()
    })
  }
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

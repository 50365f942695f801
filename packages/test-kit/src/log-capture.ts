import { connect } from 'node:net'
import { Writable } from 'node:stream'

/** Every log line a service writes, for tests that prove no secret appears in any of them. */
export function logCapture(): { lines: string[]; stream: Writable; text: () => string } {
  const lines: string[] = []
  const stream = new Writable({ write(chunk, _encoding, done) { lines.push(String(chunk)); done() } })
  return { lines, stream, text: () => lines.join('') }
}

/**
 * Sends bytes as they are (a NUL in a header, a bad chunk size: what no HTTP client would send) and
 * resolves with whatever the server answered once it closed the connection.
 */
export function sendRaw(port: number, request: string | Buffer, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const answer: Buffer[] = []
    const timer = setTimeout(() => socket.destroy(), timeoutMs)
    socket.on('data', (chunk) => answer.push(chunk))
    socket.on('error', reject)
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(Buffer.concat(answer).toString('latin1'))
    })
    socket.write(request)
  })
}

// A contender runs as its own process, so its memory is its own: peak RSS is the kernel's high-water
// mark (VmHWM) of that process and its descendants, read just before it is stopped.
import { spawn } from 'node:child_process'
import { createWriteStream, readFileSync, readdirSync } from 'node:fs'
import { performance } from 'node:perf_hooks'

function descendants(pid) {
  const found = [pid]
  for (let i = 0; i < found.length; i += 1) {
    let tasks
    try {
      tasks = readdirSync(`/proc/${found[i]}/task`)
    } catch {
      continue
    }
    for (const task of tasks) {
      try {
        for (const child of readFileSync(`/proc/${found[i]}/task/${task}/children`, 'utf8').split(' ').filter(Boolean)) found.push(Number(child))
      } catch {
        // The task ended while we looked.
      }
    }
  }
  return found
}

function statusKb(pid, field) {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`))
    return line ? Number(line.split(/\s+/)[1]) : 0
  } catch {
    return 0
  }
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat; 0 when it is gone. */
export function processCpuSeconds(pid) {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
  } catch {
    return 0
  }
}

// USER_HZ: 100 on every Linux architecture Node supports.
const CLOCK_TICKS = 100

/**
 * Starts `node <args>` with the environment given (plus PATH and HOME), logging to logFile.
 * With `ipc`, the child says it is ready with process.send({ ready: true }).
 */
export function startProcess({ args, env, logFile, ipc = false }) {
  const log = createWriteStream(logFile)
  const startedAt = performance.now()
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe', ...(ipc ? ['ipc'] : [])],
  })
  child.stdout.pipe(log)
  child.stderr.pipe(log)
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  // Peak sampled while running too: the kernel's own mark is per process and a child may come and go.
  let peakKb = 0
  const sample = () => {
    let sum = 0
    for (const pid of descendants(child.pid)) sum += statusKb(pid, 'VmHWM')
    peakKb = Math.max(peakKb, sum)
  }
  const sampler = setInterval(sample, 250)
  exited.then(() => clearInterval(sampler))

  return {
    pid: child.pid,
    /** performance.now() just before the process was spawned (cold start is measured from here). */
    startedAt,
    child,
    exited,
    /** Resolves on the child's ready message; rejects if it exits first. */
    readyMessage(timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`not ready within ${timeoutMs} ms; see ${logFile}`)), timeoutMs)
        child.on('message', (message) => {
          if (message?.ready) {
            clearTimeout(timer)
            resolve()
          }
        })
        exited.then(({ code }) => {
          clearTimeout(timer)
          reject(new Error(`exited with ${code} before it was ready; see ${logFile}`))
        })
      })
    },
    cpuSeconds() {
      return descendants(child.pid).reduce((sum, pid) => sum + processCpuSeconds(pid), 0)
    },
    peakRssMb() {
      sample()
      return Math.round(peakKb / 1024)
    },
    /** SIGTERM, then SIGKILL after graceMs; resolves with how it ended. */
    async stop(graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      const result = await exited
      clearTimeout(timer)
      log.end()
      return result
    },
  }
}

// A process's resident memory as the kernel counts it (/proc/<pid>/status):
// what docs/architecture.md, "Targets" holds each gateway process to.
import { readFileSync } from 'node:fs'

export const MB = 1024 * 1024

/** VmRSS (now) and VmHWM (the high-water mark since the process started) of a process, in bytes. */
export function residentMemory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024
  return { rss: kb('VmRSS'), peak: kb('VmHWM') }
}

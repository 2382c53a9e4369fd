// A refusal as it crosses from a pipeline worker thread (pipeline/pipeline-pool.ts)
// to the request's thread. Kept out of errors.ts, which holds the error
// classes alone (the OpenAPI document reads every export there as one).
import { ERROR_CODES } from '../errors.ts'

/** Error objects lose their class on the way between threads: the code and status are what the problem document needs. */
export interface RefusalData {
  readonly code: string
  readonly message: string
  readonly statusCode: number
}

/** The refusal an error stands for, or undefined for anything else (a defect, not a refusal). */
export function refusalData(err: unknown): RefusalData | undefined {
  const e = err as { code?: unknown; statusCode?: unknown; message?: unknown }
  if (typeof e?.code !== 'string' || typeof e.statusCode !== 'number' || !(ERROR_CODES as readonly string[]).includes(e.code)) return undefined
  return { code: e.code, message: String(e.message), statusCode: e.statusCode }
}

/** The error to throw again on the request's thread: the error handler reads its code and status. */
export function refusalError(data: RefusalData): Error & RefusalData {
  return Object.assign(new Error(data.message), { code: data.code, statusCode: data.statusCode })
}

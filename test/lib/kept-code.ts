import { readdirSync } from 'node:fs'
import { join } from 'node:path'

/**
 * The files of one kind of kept code (gateway/lib/code-cache.ts: ajv-validators,
 * route-validators, route-serializers) under a Node compile cache directory,
 * which holds one folder per Node version.
 */
export function keptFiles(cacheDir: string, kind: string): string[] {
  const found: string[] = []
  for (const version of readdirSync(cacheDir)) {
    try {
      for (const f of readdirSync(join(cacheDir, version, kind))) found.push(join(cacheDir, version, kind, f))
    } catch {
      // none of this kind under this version
    }
  }
  return found
}

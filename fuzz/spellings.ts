// How each spelling of an id and of an instant is written. One place, used
// twice: by the generators for values that need no clock (query strings) and
// by the materialiser at send time, when "now" and a fresh id are known.
import { randomBytes, randomUUID } from 'node:crypto'
import type { IdForm, InstantForm } from './case.ts'

function uuidV7(ms: number): string {
  const b = randomBytes(16)
  b.writeUIntBE(ms, 0, 6)
  b[6] = (b[6]! & 0x0f) | 0x70
  b[8] = (b[8]! & 0x3f) | 0x80
  const h = b.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

/** The id, or, if it is of digits alone, with a letter for its first: such an id has no upper case, and its case spellings would be itself. */
function withLetter(id: string): string {
  return /[a-f]/.test(id) ? id : `a${id.slice(1)}`
}

/** Another spelling of a canonical id (what a careless client would send for it). */
export function respell(id: string, form: IdForm): string {
  switch (form) {
    case 'v4':
    case 'v7':
      return id
    case 'upper':
      return withLetter(id).toUpperCase()
    case 'mixed-case':
      return withLetter(id).replace(/[a-f]/, (c) => c.toUpperCase())
    case 'urn':
      return `urn:uuid:${id}`
    case 'braces':
      return `{${id}}`
    case 'no-hyphens':
      return id.replaceAll('-', '')
    case 'fullwidth-digit':
      return /[0-9]/.test(id) ? id.replace(/[0-9]/, (d) => String.fromCharCode(0xff10 + Number(d))) : `\uff10${id.slice(1)}`
    case 'zero-width-space':
      return `${id.slice(0, 8)}\u200b${id.slice(8)}`
    case 'cyrillic-a':
      return id.includes('a') ? id.replace('a', '\u0430') : `\u0430${id.slice(1)}`
    case 'trailing-newline':
      return `${id}\n`
    case 'leading-space':
      return ` ${id}`
    case 'short':
      return id.slice(0, -1)
    case 'long':
      return `${id}0`
    case 'non-hex':
      return `g${id.slice(1)}`
  }
}

/** A fresh id (version 4, or 7 from the clock), written in `form`. */
export function formatId(form: IdForm, now: number): string {
  return respell(form === 'v7' ? uuidV7(now) : randomUUID(), form)
}

/** Offsets a valid instant may be written in (minutes east of UTC). */
const OFFSETS = [-480, 330, -210, 585, 0, -600, 840]

function local(ms: number, offsetMinutes: number): string {
  const sign = offsetMinutes < 0 ? '-' : '+'
  const abs = Math.abs(offsetMinutes)
  const wall = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, 19)
  return `${wall}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`
}

/** The instant `ms` written in `form`: the first three are the contract's profile, the rest are outside it. */
export function formatInstant(form: InstantForm, ms: number): string {
  const iso = new Date(ms).toISOString()
  const z = `${iso.slice(0, 19)}Z`
  const offset = OFFSETS[Math.abs(Math.floor(ms / 1000)) % OFFSETS.length]!
  switch (form) {
    case 'Z':
      return z
    case 'fraction':
      return `${iso.slice(0, 19)}.${`${iso.slice(20, 23)}${String(ms % 1_000_000).padStart(6, '0')}`.slice(0, 1 + (Math.floor(ms / 1000) % 9))}Z`
    case 'offset':
      return local(ms, offset)
    case 'lower-t':
      return z.replace('T', 't')
    case 'lower-z':
      return z.replace('Z', 'z')
    case 'space':
      return z.replace('T', ' ')
    case 'no-offset':
      return z.slice(0, -1)
    case 'hour-offset':
      return local(ms, 480).slice(0, -3)
    case 'compact-offset':
      return local(ms, 480).replace(/:(\d\d)$/, '$1')
    case 'offset-24':
      return `${z.slice(0, -1)}+24:00`
    case 'fraction-10':
      return `${z.slice(0, -1)}.1234567890Z`
    case 'empty-fraction':
      return `${z.slice(0, -1)}.Z`
    case 'second-60':
      return `${z.slice(0, 17)}60Z`
    case 'hour-24':
      return `${z.slice(0, 11)}24:00:00Z`
    case 'feb-30':
      return `${z.slice(0, 5)}02-30${z.slice(10)}`
    case 'month-13':
      return `${z.slice(0, 5)}13-01${z.slice(10)}`
    case 'comma-fraction':
      return `${z.slice(0, -1)},5Z`
    case 'date-only':
      return z.slice(0, 10)
    case 'z-and-offset':
      return `${z}+00:00`
    case 'fullwidth-digit':
      return `\uff12${z.slice(1)}`
    case 'expanded-year':
      return `+0${z}`
  }
}

// Traveller identifiers, as the ledger keeps them: keyed digests of a
// document (issuing country + number) or a programme membership id. A privacy
// officer asked "was this person's record shared?" computes the same digest
// from what the person shows, and finds every disclosure (P8, P12) without the
// ledger ever holding the identifier.

function normalise(value: string): string {
  return value.toUpperCase().replace(/[\s<-]/g, '')
}

export function documentSubject(issuingCountry: string, number: string): string {
  return `document:${normalise(issuingCountry)}:${normalise(number)}`
}

export function membershipSubject(membershipId: string): string {
  return `membership:${normalise(membershipId)}`
}

/** Every identifier a payload carries, wherever it sits (a traveller, a subject, each record of a batch). */
export function travellerSubjects(payload: unknown): string[] {
  const found = new Set<string>()
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) walk(item)
      return
    }
    if (value === null || typeof value !== 'object') return
    const v = value as Record<string, unknown>
    if (typeof v.number === 'string' && typeof v.issuingCountry === 'string') found.add(documentSubject(v.issuingCountry, v.number))
    if (typeof v.membershipId === 'string') found.add(membershipSubject(v.membershipId))
    for (const child of Object.values(v)) if (child !== null && typeof child === 'object') walk(child)
  }
  walk(payload)
  return [...found]
}

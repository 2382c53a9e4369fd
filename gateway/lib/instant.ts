// An RFC 3339 date-time with its offset, as the contract writes instants
// (docs/architecture.md, "The contract"), and one a calendar has.
const RFC3339_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/

/** Whether the text is an instant: RFC 3339's form, and a time Date can place (no 31 February, no hour 25). */
export function isInstant(text: string): boolean {
  return RFC3339_INSTANT.test(text) && !Number.isNaN(Date.parse(text))
}

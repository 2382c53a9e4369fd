// Synthetic travellers for the sandbox's bulk loads: a population of made-up
// people, a day's land-border crossings among them, and their NEXUS
// memberships. Everything is a pure function of a seed and an index, so the
// same seed gives the same people in any order, at any concurrency, on any
// machine; and a border day and a roster made with the same seed name the
// same people (a NEXUS member who crossed that day is in both).
//
// Obviously fake by construction: every document number starts with `ZZ`
// and every PASSID with `99` (SYNTHETIC_DOCUMENT_PREFIX, SYNTHETIC_PASSID_PREFIX),
// ranges no issuing authority uses for these documents, so a synthetic record
// can never be mistaken for (or collide with) a real one. Names are common
// names drawn at random; the date, port and time of a crossing are realistic
// (volume by port and by hour of the day, the port's own UTC offset). Port
// codes are 4-digit CBSA office and CBP port codes; a few are illustrative.

type Country = 'CA' | 'US'

export const SYNTHETIC_DOCUMENT_PREFIX = 'ZZ'
export const SYNTHETIC_PASSID_PREFIX = '99'
/** People in the synthetic population: traveller k is 1..POPULATION. */
export const POPULATION = 2_000_000

/** Hashes a seed string to 32 bits (FNV-1a), once per load. */
export function seedHash(seed: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 0x01000193)
  return h >>> 0
}

function fmix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b)
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35)
  return (x ^ (x >>> 16)) >>> 0
}

/**
 * A stream of numbers in [0, 1) for one (seed, stream, index): mulberry32
 * started from a murmur3-mixed state, so neighbouring indexes are unrelated.
 */
export function randomFor(seed: number, stream: number, index: number): () => number {
  let state = fmix32(seed ^ fmix32(Math.imul(stream, 0x9e3779b9) ^ fmix32(index + 1)))
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// Streams: one per kind of thing drawn, so that adding a field to one never
// shifts the draws of another.
const PERSON = 1
const CROSSING = { CA: 2, US: 4 } as const
const DESIGNATION = 3

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!
}

function weighted<T extends { readonly weight: number }>(random: () => number, items: readonly T[]): T {
  const total = items.reduce((sum, i) => sum + i.weight, 0)
  let r = random() * total
  for (const item of items) {
    r -= item.weight
    if (r < 0) return item
  }
  return items[items.length - 1]!
}

interface Origin {
  readonly weight: number
  readonly citizenship: string
  readonly surnames: readonly string[]
  readonly female: readonly string[]
  readonly male: readonly string[]
}

const EN_F = ['OLIVIA', 'EMMA', 'SARAH', 'JESSICA', 'EMILY', 'HANNAH', 'MEGAN', 'LAUREN', 'ASHLEY', 'RACHEL', 'KATHERINE', 'ELIZABETH']
const EN_M = ['JAMES', 'MICHAEL', 'DAVID', 'JOHN', 'ROBERT', 'DANIEL', 'MATTHEW', 'RYAN', 'KEVIN', 'BRIAN', 'ANDREW', 'THOMAS']

const ORIGINS: readonly Origin[] = [
  {
    weight: 50,
    citizenship: 'CAN',
    surnames: [
      'TREMBLAY',
      'GAGNON',
      'ROY',
      'COTE',
      'BOUCHARD',
      'GAUTHIER',
      'MORIN',
      'LAVOIE',
      'FORTIN',
      'PELLETIER',
      'LEBLANC',
      'BELANGER',
      'SMITH',
      'BROWN',
      'WILSON',
      'MACDONALD',
      'CAMPBELL',
      'ANDERSON',
      'TAYLOR',
      'MARTIN',
      'THOMPSON',
      'CHEN',
      'SINGH',
      'PATEL',
      'WONG',
      'LI'
    ],
    female: ['JULIE', 'MARIE', 'SOPHIE', 'CHLOE', 'EMILIE', 'CATHERINE', 'ISABELLE', 'GENEVIEVE', ...EN_F],
    male: ['JEAN', 'LUC', 'MATHIEU', 'PHILIPPE', 'ALEXANDRE', 'MARC', 'SIMON', 'OLIVIER', ...EN_M]
  },
  {
    weight: 42,
    citizenship: 'USA',
    surnames: [
      'SMITH',
      'JOHNSON',
      'WILLIAMS',
      'BROWN',
      'JONES',
      'GARCIA',
      'MILLER',
      'DAVIS',
      'RODRIGUEZ',
      'MARTINEZ',
      'HERNANDEZ',
      'LOPEZ',
      'WILSON',
      'ANDERSON',
      'THOMAS',
      'TAYLOR',
      'MOORE',
      'JACKSON',
      'WHITE',
      'HARRIS',
      'NGUYEN',
      'KIM',
      'KOWALSKI',
      'HOFFMAN'
    ],
    female: ['MARY', 'PATRICIA', 'JENNIFER', 'LINDA', 'SUSAN', 'KAREN', 'NANCY', 'MARIA', ...EN_F],
    male: ['WILLIAM', 'RICHARD', 'JOSEPH', 'CHARLES', 'CHRISTOPHER', 'JOSE', 'ANTHONY', 'MARK', ...EN_M]
  },
  {
    weight: 1.6,
    citizenship: 'MEX',
    surnames: ['HERNANDEZ', 'GARCIA', 'MARTINEZ', 'LOPEZ', 'GONZALEZ', 'PEREZ', 'SANCHEZ', 'RAMIREZ'],
    female: ['MARIA', 'GUADALUPE', 'ANA', 'SOFIA', 'FERNANDA'],
    male: ['JOSE', 'JUAN', 'LUIS', 'CARLOS', 'MIGUEL']
  },
  {
    weight: 1.4,
    citizenship: 'IND',
    surnames: ['SINGH', 'KUMAR', 'SHARMA', 'PATEL', 'GUPTA', 'REDDY', 'DAS', 'IYER'],
    female: ['PRIYA', 'ANANYA', 'DIVYA', 'POOJA', 'NEHA'],
    male: ['RAHUL', 'AMIT', 'ARJUN', 'VIKRAM', 'SURESH']
  },
  {
    weight: 1.2,
    citizenship: 'CHN',
    surnames: ['WANG', 'LI', 'ZHANG', 'LIU', 'CHEN', 'YANG', 'HUANG', 'ZHAO'],
    female: ['LI NA', 'XIU YING', 'MEI', 'JING', 'YAN'],
    male: ['WEI', 'JUN', 'HAO', 'LEI', 'QIANG']
  },
  {
    weight: 1.0,
    citizenship: 'PHL',
    surnames: ['SANTOS', 'REYES', 'CRUZ', 'BAUTISTA', 'GARCIA', 'MENDOZA', 'TORRES'],
    female: ['MARIA', 'ANGELICA', 'KRISTINE', 'JOY'],
    male: ['JOHN PAUL', 'MARK', 'RONALD', 'JERICHO']
  },
  {
    weight: 1.0,
    citizenship: 'GBR',
    surnames: ['SMITH', 'JONES', 'TAYLOR', 'EVANS', 'DAVIES', 'HUGHES', 'WRIGHT'],
    female: ['AMELIA', 'ISLA', 'POPPY', 'CHARLOTTE'],
    male: ['OLIVER', 'HARRY', 'GEORGE', 'JACK']
  },
  {
    weight: 0.8,
    citizenship: 'FRA',
    surnames: ['MARTIN', 'BERNARD', 'DUBOIS', 'THOMAS', 'ROBERT', 'PETIT', 'DURAND'],
    female: ['CAMILLE', 'MANON', 'LEA', 'INES'],
    male: ['LUCAS', 'HUGO', 'LOUIS', 'THEO']
  },
  {
    weight: 0.5,
    citizenship: 'KOR',
    surnames: ['KIM', 'LEE', 'PARK', 'CHOI', 'JUNG', 'KANG'],
    female: ['JI-WOO', 'SEO-YEON', 'MIN-JI'],
    male: ['MIN-JUN', 'SEO-JUN', 'JI-HO']
  },
  {
    weight: 0.5,
    citizenship: 'VNM',
    surnames: ['NGUYEN', 'TRAN', 'LE', 'PHAM', 'HOANG', 'VU'],
    female: ['THI', 'LAN', 'HUONG', 'MAI'],
    male: ['VAN', 'MINH', 'DUC', 'HUNG']
  }
]

export interface SyntheticPerson {
  readonly index: number
  readonly surname: string
  readonly givenNames: string
  readonly middleNames?: string
  readonly dateOfBirth: string
  readonly sex: 'M' | 'F' | 'X'
  readonly citizenship: string
  readonly subjectCategory: 'ca-citizen' | 'us-citizen' | 'ca-permanent-resident' | 'us-lawful-permanent-resident' | 'third-country-national'
  readonly document: { readonly type: string; readonly issuingCountry: string; readonly number: string; readonly expiryDate: string }
}

function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10)
}

const DAY_MS = 86_400_000

/** Person k (1..POPULATION) of the seed's population. */
export function syntheticPerson(seed: number, k: number): SyntheticPerson {
  const random = randomFor(seed, PERSON, k)
  const origin = weighted(random, ORIGINS)
  const roll = random()
  const sex = roll < 0.495 ? 'F' : roll < 0.99 ? 'M' : 'X'
  const names = sex === 'F' ? origin.female : sex === 'M' ? origin.male : random() < 0.5 ? origin.female : origin.male
  // Most people who cross by land are adults; about one in seven is a child.
  const minor = random() < 0.14
  const born = minor ? Date.UTC(2009, 0, 1) + Math.floor(random() * 17 * 365.25) * DAY_MS : Date.UTC(1941, 0, 1) + Math.floor(random() * 67 * 365.25) * DAY_MS
  const status = random()
  const subjectCategory: SyntheticPerson['subjectCategory'] =
    origin.citizenship === 'CAN'
      ? 'ca-citizen'
      : origin.citizenship === 'USA'
        ? 'us-citizen'
        : status < 0.3
          ? 'ca-permanent-resident'
          : status < 0.6
            ? 'us-lawful-permanent-resident'
            : 'third-country-national'
  // U.S. citizens often cross by land on a passport card.
  const type = origin.citizenship === 'USA' && random() < 0.25 ? 'PC' : 'P'
  const expires = Date.UTC(2027, 0, 1) + Math.floor(random() * 10 * 365) * DAY_MS
  const middle = random() < 0.35 ? pick(random, names) : undefined
  const given = pick(random, names)
  return {
    index: k,
    surname: pick(random, origin.surnames),
    givenNames: given,
    ...(middle !== undefined && middle !== given ? { middleNames: middle } : {}),
    dateOfBirth: isoDate(born),
    sex,
    citizenship: origin.citizenship,
    subjectCategory,
    document: {
      type,
      issuingCountry: origin.citizenship,
      number: `${SYNTHETIC_DOCUMENT_PREFIX}${String(k).padStart(7, '0')}`,
      expiryDate: isoDate(expires)
    }
  }
}

interface Port {
  readonly code: string
  readonly name: string
  readonly timeZone: string
  readonly weight: number
}

/** Land ports where the recording country's agency records entries, weighted by rough daily volume. */
export const LAND_PORTS: Readonly<Record<Country, readonly Port[]>> = {
  CA: [
    { code: '0453', name: 'Windsor-Ambassador Bridge (ON)', timeZone: 'America/Toronto', weight: 14 },
    { code: '0427', name: 'Fort Erie-Peace Bridge (ON)', timeZone: 'America/Toronto', weight: 10 },
    { code: '0410', name: 'Niagara Falls-Rainbow Bridge (ON)', timeZone: 'America/Toronto', weight: 8 },
    { code: '0813', name: 'Douglas (BC)', timeZone: 'America/Vancouver', weight: 9 },
    { code: '0840', name: 'Pacific Highway (BC)', timeZone: 'America/Vancouver', weight: 6 },
    { code: '0440', name: 'Sarnia-Blue Water Bridge (ON)', timeZone: 'America/Toronto', weight: 7 },
    { code: '0352', name: 'Lacolle (QC)', timeZone: 'America/Toronto', weight: 5 },
    { code: '0505', name: 'Lansdowne (ON)', timeZone: 'America/Toronto', weight: 4 },
    { code: '0211', name: 'St. Stephen (NB)', timeZone: 'America/Moncton', weight: 3 },
    { code: '0501', name: 'Emerson (MB)', timeZone: 'America/Winnipeg', weight: 2 },
    { code: '0709', name: 'Coutts (AB)', timeZone: 'America/Edmonton', weight: 2 }
  ],
  US: [
    { code: '0901', name: 'Buffalo-Niagara Falls (NY)', timeZone: 'America/New_York', weight: 18 },
    { code: '3801', name: 'Detroit (MI)', timeZone: 'America/Detroit', weight: 14 },
    { code: '3004', name: 'Blaine (WA)', timeZone: 'America/Los_Angeles', weight: 12 },
    { code: '3802', name: 'Port Huron (MI)', timeZone: 'America/Detroit', weight: 7 },
    { code: '0712', name: 'Champlain-Rouses Point (NY)', timeZone: 'America/New_York', weight: 5 },
    { code: '0708', name: 'Alexandria Bay (NY)', timeZone: 'America/New_York', weight: 4 },
    { code: '3009', name: 'Sumas (WA)', timeZone: 'America/Los_Angeles', weight: 3 },
    { code: '0115', name: 'Calais (ME)', timeZone: 'America/New_York', weight: 3 },
    { code: '3401', name: 'Pembina (ND)', timeZone: 'America/Chicago', weight: 2 },
    { code: '3310', name: 'Sweetgrass (MT)', timeZone: 'America/Denver', weight: 2 }
  ]
}

// Share of a land port's day per local hour (00–23): quiet at night, busiest
// in the afternoon.
const HOURLY = [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 3.5, 4, 4.3, 4.5, 4.6, 4.6, 4.7, 4.8, 4.9, 4.7, 4.2, 3.6, 3, 2.4, 1.8, 1.3]
const HOURLY_CDF = HOURLY.map((_, h) => HOURLY.slice(0, h + 1).reduce((a, b) => a + b, 0) / HOURLY.reduce((a, b) => a + b, 0))

/** Second of the local day at quantile q (0..1) of the day's traffic. */
function secondOfDay(q: number): number {
  const hour = HOURLY_CDF.findIndex((c) => q < c)
  const h = hour === -1 ? 23 : hour
  const below = h === 0 ? 0 : HOURLY_CDF[h - 1]!
  const within = (q - below) / (HOURLY_CDF[h]! - below)
  return Math.min(86_399, Math.floor((h + within) * 3600))
}

const offsets = new Map<string, string>()

/** The zone's UTC offset (`-05:00`) at noon on `date`, from the platform's time zone data. */
function utcOffset(timeZone: string, date: string): string {
  const key = `${timeZone} ${date}`
  let offset = offsets.get(key)
  if (offset === undefined) {
    const name =
      new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' })
        .formatToParts(new Date(`${date}T12:00:00Z`))
        .find((p) => p.type === 'timeZoneName')?.value ?? 'GMT'
    offset = name === 'GMT' ? '+00:00' : name.slice(3)
    offsets.set(key, offset)
  }
  return offset
}

const MAKES = ['Toyota', 'Honda', 'Ford', 'Chevrolet', 'Hyundai', 'Nissan', 'Subaru', 'Kia', 'Volkswagen', 'Mazda', 'Tesla', 'Ram', 'Jeep', 'GMC']

export interface BorderDayOptions {
  readonly seed: number
  /** The country whose agency records the entries (and sends them). */
  readonly recordedBy: Country
  /** YYYY-MM-DD, the local date of every crossing. */
  readonly date: string
  /** Records in the day: record i's time is at quantile i/count of the day's traffic, so the day comes in order. */
  readonly count: number
}

/**
 * Record i (0-based) of a day's land-border entries recorded by one country:
 * an `entry-exit.record` payload, with the source fields (vehicle, photo,
 * collection channel) a port system holds, which every policy withholds.
 */
export function borderDayRecord(opts: BorderDayOptions, i: number): Record<string, unknown> {
  const random = randomFor(opts.seed, CROSSING[opts.recordedBy], i)
  const person = syntheticPerson(opts.seed, 1 + Math.floor(random() * POPULATION))
  const port = weighted(random, LAND_PORTS[opts.recordedBy])
  const second = secondOfDay(Math.min(0.999999, (i + random()) / opts.count))
  const time = new Date(second * 1000).toISOString().slice(11, 19)
  const channel = random()
  const vehicle = random() < 0.9
  return {
    recordType: 'entry',
    traveller: {
      surname: person.surname,
      givenNames: person.givenNames,
      ...(person.middleNames !== undefined ? { middleNames: person.middleNames } : {}),
      dateOfBirth: person.dateOfBirth,
      sex: person.sex,
      citizenship: person.citizenship,
      subjectCategory: person.subjectCategory
    },
    document: { type: person.document.type, issuingCountry: person.document.issuingCountry, number: person.document.number },
    crossing: {
      dateTime: `${opts.date}T${time}${utcOffset(port.timeZone, opts.date)}`,
      portCode: port.code,
      portName: port.name,
      travelMode: 'land'
    },
    ...(vehicle ? { vehicle: { make: pick(random, MAKES) } } : {}),
    photoRef: `SYN-PHOTO-${opts.recordedBy}-${opts.date.replaceAll('-', '')}-${String(i + 1).padStart(7, '0')}`,
    source: channel < 0.62 ? 'primary-inspection' : channel < 0.97 ? 'primary-inspection-kiosk' : 'secondary-inspection'
  }
}

export interface RosterOptions {
  readonly seed: number
  /** The agency that ran the risk assessment and sends the roster. */
  readonly assessedBy: 'CBSA' | 'CBP'
  /** YYYY-MM-DD: the roster's "as of" date; validity periods are around it. */
  readonly date: string
}

/**
 * Member j (0-based) of a NEXUS roster: a `traveller.designation` payload for
 * person j+1 of the population, whose PASSID is `99` and seven digits. Most
 * memberships are approved for five years; some are pending, expired, revoked
 * or denied (every third-country national who applied is denied: NEXUS is
 * for citizens and permanent residents).
 */
export function nexusDesignation(opts: RosterOptions, j: number): Record<string, unknown> {
  const random = randomFor(opts.seed, DESIGNATION, j)
  const person = syntheticPerson(opts.seed, j + 1)
  const asOf = Date.parse(`${opts.date}T00:00:00Z`)
  const roll = random()
  const status =
    person.subjectCategory === 'third-country-national'
      ? 'denied'
      : roll < 0.93
        ? 'approved'
        : roll < 0.96
          ? 'pending'
          : roll < 0.98
            ? 'expired'
            : roll < 0.99
              ? 'revoked'
              : 'denied'
  // Approved and revoked: granted within the last five years; expired: granted five to six years ago.
  const grantedDaysAgo = status === 'expired' ? 1827 + Math.floor(random() * 365) : 1 + Math.floor(random() * 1825)
  const validFrom = asOf - grantedDaysAgo * DAY_MS
  const assessed =
    status === 'pending' || status === 'denied'
      ? asOf - Math.floor(random() * 60) * DAY_MS
      : status === 'revoked'
        ? asOf - Math.floor(random() * 90) * DAY_MS
        : validFrom - (3 + Math.floor(random() * 40)) * DAY_MS
  const withValidity = status === 'approved' || status === 'expired' || status === 'revoked'
  return {
    designationType: 'trusted-traveller-member',
    programme: 'NEXUS',
    membershipId: `${SYNTHETIC_PASSID_PREFIX}${String(j + 1).padStart(7, '0')}`,
    status,
    ...(withValidity ? { validFrom: isoDate(validFrom), validUntil: isoDate(validFrom + 1826 * DAY_MS) } : {}),
    riskAssessment: {
      outcome: status === 'revoked' || status === 'denied' ? 'fail' : 'pass',
      agency: opts.assessedBy,
      assessedOn: isoDate(assessed)
    },
    traveller: {
      surname: person.surname,
      givenNames: person.givenNames,
      dateOfBirth: person.dateOfBirth,
      sex: person.sex,
      citizenship: person.citizenship,
      subjectCategory: person.subjectCategory
    },
    document: person.document
  }
}

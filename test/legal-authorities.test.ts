// Legal authorities tied to country, kind and purpose (P1): one registry
// (policies/authorities.ts) says which authorities each sending country may
// cite for each kind and purpose; the policies' lists are made from it; a
// mismatch is refused with LEGAL_AUTHORITY_MISMATCH on intake and again at the
// partner's /v1/exchange, audited like every refusal; GET /v1/policies
// publishes the registry; every example and sandbox message cites an
// authority its sender may cite.
import t, { type Test } from 'tap'
import { randomBytes, createPrivateKey } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { CompactSign } from 'jose'
import { ARRANGEMENTS, COUNTRIES, LEGAL_AUTHORITIES, citableBy } from '../policies/authorities.ts'
import { policies } from '../policies/index.ts'
import type { PolicyCatalogue } from '../policies/catalogue.ts'
import { KINDS, listExamples, type Kind } from '../schemas/index.ts'
import { PolicyBook } from '../gateway/pipeline/apply-policy.ts'
import type { Envelope } from '../gateway/pipeline/envelope.ts'
import { sha256 } from '../gateway/lib/digest.ts'
import { SAMPLE_ROUTES, matchResponse, sampleEnvelope, validExamples } from '../sandbox/sample-messages.ts'
import type { ReceivedMessage } from '../sandbox/mock-agency.ts'
import { client, injectGateway, KEYS_DIR, presenting, testConfig } from './helper.ts'

const book = new PolicyBook(randomBytes(32), randomBytes(32))

function example(kind: Kind, name: string): Envelope {
  const found = listExamples(kind).find((e) => e.name === name)
  if (found === undefined) throw new Error(`no example ${kind}/${name}`)
  return structuredClone(found.envelope) as Envelope
}

/** Each case refused with `code` (403) whichever way the envelope goes, its detail matching each pattern. */
function refusedBothWays(t: Test, cases: ReadonlyArray<[string, Envelope, RegExp[]]>, code: string): void {
  for (const [what, envelope, detail] of cases) {
    for (const direction of ['outbound', 'inbound'] as const) {
      let caught: { code?: string; statusCode?: number; message?: string } | undefined
      try {
        book.select(envelope, direction)
      } catch (err) {
        caught = err as typeof caught
      }
      t.match(caught, { code, statusCode: 403 }, `${what} (${direction})`)
      for (const re of detail) t.match(caught?.message, re, `${what} (${direction}): the detail says ${re}`)
    }
  }
}

t.test('the registry covers every purpose of every policy, for both countries, and names nothing else', async (t) => {
  const ids = LEGAL_AUTHORITIES.map((a) => a.id)
  t.same([...new Set(ids)], ids, 'each authority once')
  for (const authority of LEGAL_AUTHORITIES) {
    t.ok(authority.title.length > 0, `${authority.id}: a title`)
    t.ok(
      authority.citableBy.length > 0 && authority.citableBy.every((c) => (COUNTRIES as readonly string[]).includes(c)),
      `${authority.id}: citable by CA, US or both`
    )
    t.ok(authority.citableFor.length > 0, `${authority.id}: cited for something`)
    for (const use of authority.citableFor) {
      for (const kind of use.kinds) {
        for (const purpose of use.purposes) t.ok(policies[kind].purposes[purpose], `${authority.id}: ${kind} has the purpose ${purpose}`)
      }
    }
  }
  for (const kind of KINDS) {
    for (const purpose of Object.keys(policies[kind].purposes)) {
      for (const country of COUNTRIES) t.ok(citableBy(country, kind, purpose).length > 0, `${country} has an authority to cite for ${kind} under ${purpose}`)
    }
  }
})

t.test("the policies' lists are the registry's, per sending country", async (t) => {
  for (const kind of KINDS) {
    for (const [purpose, purposePolicy] of Object.entries(policies[kind].purposes)) {
      for (const country of COUNTRIES) {
        t.same(purposePolicy.legalAuthoritiesByCountry[country], citableBy(country, kind, purpose), `${kind} ${purpose}: what ${country} may cite`)
      }
      t.same(
        [...purposePolicy.legalAuthorities].sort(),
        [...new Set(COUNTRIES.flatMap((c) => citableBy(c, kind, purpose)))].sort(),
        `${kind} ${purpose}: every authority either country may cite`
      )
    }
  }
})

t.test('an authority of the other country, or of another kind or purpose, is refused with LEGAL_AUTHORITY_MISMATCH, both ways', async (t) => {
  const ca = example('entry-exit.record', 'valid-land-entry-ca-to-us')
  const us = example('entry-exit.record', 'valid-land-entry-us-to-ca-residency')
  const nexusUs = example('traveller.designation', 'valid-nexus-revoked-us-to-ca')
  const cases: Array<[string, Envelope, RegExp[]]> = [
    [
      'a Canadian sender citing a U.S. statute',
      { ...ca, legalAuthority: 'INA-215' },
      [/INA-215/, /\bCA\b/, /entry-exit\.record/, /entry-exit-verification/, /\bUS\b/]
    ],
    ['a U.S. sender citing a Canadian statute', { ...us, legalAuthority: 'IRPA-28' }, [/IRPA-28/, /\bUS\b/, /residency-determination/]],
    [
      'a U.S. sender citing the Customs Act for a NEXUS designation',
      { ...nexusUs, legalAuthority: 'CustomsAct-11.1' },
      [/CustomsAct-11\.1/, /traveller\.designation/]
    ],
    ['an authority of another purpose', { ...ca, legalAuthority: 'IRPA-48' }, [/IRPA-48/, /entry-exit-verification/]],
    ['an authority of another kind', { ...ca, legalAuthority: 'IRPR-315.23(1)(a)' }, [/IRPR-315\.23\(1\)\(a\)/]],
    ['an authority of no registry', { ...ca, legalAuthority: 'PATRIOT-Act-215' }, [/PATRIOT-Act-215/, /not in the registry/]]
  ]
  refusedBothWays(t, cases, 'LEGAL_AUTHORITY_MISMATCH')
  const bilateral = 'BtB-Entry-Exit-Arrangement-2012'
  t.doesNotThrow(() => book.select({ ...ca, legalAuthority: bilateral }, 'outbound'), 'an authority of the arrangement, from Canada')
  const usEntry: Envelope = { ...ca, from: { country: 'US', agency: 'CBP', system: 'ades' }, to: { country: 'CA', agency: 'CBSA' } }
  t.doesNotThrow(() => book.select({ ...usEntry, legalAuthority: bilateral }, 'inbound'), 'and from the United States')
  const nowhere = { ...ca, from: { ...ca.from, country: 'constructor' } } as unknown as Envelope
  t.throws(() => book.select(nowhere, 'outbound'), { code: 'LEGAL_AUTHORITY_MISMATCH' }, 'a country named like an Object.prototype member cites nothing')
})

// The arrangement an exchange falls under (agreementRef) is one of a closed
// list for its kind and purpose, as a legal authority is: free text there
// would reach both ledgers as written (docs/integrators.md, "Legal authorities").
t.test('an arrangement its kind and purpose do not travel under, or of no registry, is refused with AGREEMENT_MISMATCH, both ways', async (t) => {
  const ca = example('entry-exit.record', 'valid-land-entry-ca-to-us')
  const nexus = example('traveller.designation', 'valid-nexus-approved-ca-to-us')
  const cases: Array<[string, Envelope, RegExp[]]> = [
    ['free text', { ...ca, agreementRef: 'J. Smith, 1992-10-05' }, [/not in the registry of arrangements/, /CA-US-Entry-Exit-Joint-Statement-2012/]],
    ['the arrangement of another kind', { ...ca, agreementRef: 'CA-US-NEXUS-Arrangement-2002' }, [/CA-US-NEXUS-Arrangement-2002/, /entry-exit\.record/]],
    [
      'the arrangement of another purpose of the kind',
      { ...nexus, agreementRef: 'BtB-Action-Plan-2011-Business-Travellers' },
      [/trusted-traveller-vetting/, /CA-US-NEXUS-Arrangement-2002/]
    ]
  ]
  refusedBothWays(t, cases, 'AGREEMENT_MISMATCH')
  for (const kind of KINDS) {
    for (const [purpose, purposePolicy] of Object.entries(policies[kind].purposes)) {
      t.equal(purposePolicy.agreementRefs.length, 1, `${kind} under ${purpose} travels under one arrangement`)
      t.ok(
        purposePolicy.agreementRefs.every((id) => ARRANGEMENTS.some((a) => a.id === id)),
        `${kind} under ${purpose}: from the registry`
      )
    }
  }
})

t.test('every example, and every message the sandbox sends, cites an authority its sender may cite', async (t) => {
  for (const kind of KINDS) {
    for (const ex of listExamples(kind)) {
      const e = ex.envelope as { kind?: string; purpose?: string; legalAuthority?: string; from?: { country?: string } }
      // Examples invalid for their authority, purpose or kind have nothing to check here.
      if (e.kind !== kind || typeof e.purpose !== 'string' || policies[kind].purposes[e.purpose] === undefined || !e.legalAuthority) continue
      const country = e.from?.country as 'CA' | 'US'
      t.ok(citableBy(country, kind, e.purpose).includes(e.legalAuthority), `${kind}/${ex.name}: ${country} may cite ${e.legalAuthority}`)
      t.ok(
        policies[kind].purposes[e.purpose]!.agreementRefs.includes((e as { agreementRef?: string }).agreementRef ?? ''),
        `${kind}/${ex.name}: it falls under ${(e as { agreementRef?: string }).agreementRef}`
      )
    }
  }
  for (const ex of listExamples('envelope')) {
    const e = ex.envelope as { kind?: string; purpose?: string; legalAuthority?: string; from?: { country?: string } }
    if (!KINDS.includes(e.kind as Kind) || typeof e.purpose !== 'string' || policies[e.kind as Kind].purposes[e.purpose] === undefined || !e.legalAuthority)
      continue
    t.ok(citableBy(e.from?.country as 'CA' | 'US', e.kind as Kind, e.purpose).includes(e.legalAuthority), `envelope/${ex.name}: ${e.legalAuthority}`)
  }
  for (const route of SAMPLE_ROUTES) {
    const own = validExamples(route.kind).filter((e) => (e.from as { country: string }).country === route.from.country)
    for (let pick = 0; pick < Math.max(1, own.length); pick++) {
      const sample = sampleEnvelope(route.kind, route.from.country, route.to, pick) as { purpose: string; legalAuthority: string; agreementRef: string }
      t.ok(
        citableBy(route.from.country, route.kind, sample.purpose).includes(sample.legalAuthority),
        `sample ${route.kind} ${route.from.country}→${route.to.country} #${pick}: ${sample.legalAuthority}`
      )
      t.ok(
        policies[route.kind].purposes[sample.purpose]!.agreementRefs.includes(sample.agreementRef),
        `sample ${route.kind} ${route.from.country}→${route.to.country} #${pick}: ${sample.agreementRef}`
      )
    }
  }
  for (const to of COUNTRIES) {
    const from = to === 'CA' ? 'US' : 'CA'
    for (const purpose of Object.keys(policies['biometric.match-request'].purposes)) {
      for (const matched of [true, false]) {
        const request: ReceivedMessage = {
          id: crypto.randomUUID(),
          kind: 'biometric.match-request',
          purpose,
          from: `${to}/${to === 'CA' ? 'IRCC' : 'USCIS'}/system`,
          correlationId: null,
          supersedes: null,
          gatewayKid: 'k',
          partnerKid: 'k',
          policyVersion: 'v',
          payload: { transactionRef: 'ps1:x' },
          receivedAt: new Date().toISOString(),
          idempotencyKey: null
        }
        const response = matchResponse(request, matched, to) as { legalAuthority: string }
        t.ok(
          citableBy(from, 'biometric.match-response', purpose).includes(response.legalAuthority),
          `the ${from} mock agency's ${matched ? 'MATCH' : 'NO_MATCH'} under ${purpose}: ${response.legalAuthority}`
        )
      }
    }
  }
})

t.test('on intake: refused, audited with its code, nothing accepted, no personal value in the answer; the dry run says the same', async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const cbsa = client(t, 'CBSA', gw.url)
  const envelope = cbsa.envelope({ ...sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' }), legalAuthority: '8-CFR-215.8' })
  const jws = await cbsa.sign(envelope)
  const dry = await cbsa.call('POST', '/v1/policies/dry-run', jws, { 'content-type': 'application/jose', authorization: `Bearer ${await cbsa.token()}` })
  const res = await cbsa.submit(jws)
  t.equal(res.status, 403)
  t.match(String(res.headers['content-type']), /^application\/problem\+json/)
  const problem = res.json<{ code: string; detail: string }>()
  t.equal(problem.code, 'LEGAL_AUTHORITY_MISMATCH')
  t.match(problem.detail, /8-CFR-215\.8/)
  t.match(problem.detail, /\bCA\b/)
  t.match(problem.detail, /entry-exit\.record/)
  t.match(problem.detail, /entry-exit-verification/)
  const payload = envelope.payload as { traveller: { surname: string }; document: { number: string } }
  t.notOk(res.body.includes(payload.traveller.surname) || res.body.includes(payload.document.number), 'no personal value in the answer')
  t.same([dry.status, dry.json<{ code: string }>().code], [403, 'LEGAL_AUTHORITY_MISMATCH'], 'the dry run refuses it alike')

  t.equal(await gw.app.store.findMessage('outbound', String(envelope.id)), undefined, 'nothing accepted')
  t.equal(await gw.app.queues.queue('outbound').count(), 0, 'nothing queued')
  const refused = (await gw.app.store.auditEntries(0, 1000)).map((e) => e.entry).filter((e) => e.event === 'refused')
  t.match(
    refused,
    [{ code: 'LEGAL_AUTHORITY_MISMATCH', messageId: envelope.id, legalAuthority: '8-CFR-215.8', caller: 'CA/CBSA/pik-primary' }],
    'the refusal is audited'
  )
  t.notOk(JSON.stringify(refused).includes(payload.traveller.surname), 'and the ledger holds no value')
})

t.test("at the partner gateway: a forwarded message citing the other country's authority is refused and audited", async (t) => {
  const us = await injectGateway(t, testConfig('US', { runWorkers: false }))
  const caDir = join(KEYS_DIR, 'CA')
  const jwk = JSON.parse(readFileSync(join(caDir, readdirSync(caDir).find((f) => f.startsWith('gateway.signing.'))!), 'utf8')) as { kid: string }
  const key = createPrivateKey({ key: jwk as never, format: 'jwk' })
  const partner = presenting(readFileSync(join(caDir, 'gateway.crt.pem'), 'utf8'))
  const envelope = {
    id: crypto.randomUUID(),
    schemaVersion: '1.0',
    createdAt: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    from: { country: 'CA', agency: 'CBSA', system: 'pik-primary' },
    ...sampleEnvelope('entry-exit.record', 'CA', { country: 'US', agency: 'CBP' })
  } as unknown as Envelope
  const policy = book.select(envelope, 'outbound')
  const forwarded = {
    ...envelope,
    // What a sending gateway that did not check would forward: the payload minimised, the authority a U.S. one.
    legalAuthority: 'INA-215',
    payload: book.apply(policy, envelope.payload).payload,
    handling: {
      policy: policy.id,
      policyVersion: policy.version,
      retentionDays: policy.rules.retentionDays,
      onwardTransfer: false,
      humanReviewRequired: true,
      forwardedBy: 'CA',
      forwardedAt: new Date().toISOString(),
      originDigest: sha256('origin')
    }
  }
  const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(forwarded)))
    .setProtectedHeader({ alg: 'ES256', kid: jwk.kid, typ: 'btb-envelope+jws' })
    .sign(key)
  const res = await us.app.inject({ method: 'POST', url: '/v1/exchange', payload: jws, headers: { 'content-type': 'application/jose', ...partner } })
  t.equal(res.statusCode, 403, res.body)
  const problem = JSON.parse(res.body) as { code: string; detail: string }
  t.equal(problem.code, 'LEGAL_AUTHORITY_MISMATCH')
  t.match(problem.detail, /INA-215/)
  t.match(problem.detail, /\bCA\b/)
  t.equal(await us.app.store.findMessage('inbound', envelope.id), undefined, 'nothing received')
  const entries = (await us.app.store.auditEntries(0, 100)).map((e) => e.entry)
  t.match(
    entries.filter((e) => e.event === 'refused'),
    [{ code: 'LEGAL_AUTHORITY_MISMATCH', direction: 'inbound', caller: 'gateway:CA', legalAuthority: 'INA-215' }],
    'the partner refusal is audited'
  )
})

t.test('GET /v1/policies publishes the registry, and what each country may cite per purpose', async (t) => {
  const gw = await injectGateway(t, testConfig('CA', { runWorkers: false }))
  const res = await client(t, 'CBSA', gw.url).call('GET', '/v1/policies')
  t.equal(res.status, 200)
  const catalogue = res.json<PolicyCatalogue>()
  t.same(
    catalogue.legalAuthorities,
    LEGAL_AUTHORITIES.map((a) => ({
      id: a.id,
      title: a.title,
      citableBy: [...a.citableBy],
      citableFor: a.citableFor.map((u) => ({ kinds: [...u.kinds], purposes: [...u.purposes] }))
    })),
    'the registry, as it is'
  )
  for (const published of catalogue.kinds) {
    for (const purpose of published.purposes) {
      t.same(
        purpose.legalAuthoritiesByCountry,
        { CA: citableBy('CA', published.kind, purpose.purpose), US: citableBy('US', published.kind, purpose.purpose) },
        `${published.kind} ${purpose.purpose}: per sending country`
      )
    }
  }
})

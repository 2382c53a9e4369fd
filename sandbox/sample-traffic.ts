// The sandbox's sample traffic, as an agency system sends it: one message of
// each kind each way, followed until the partner's signed receipt, then a
// correction of one of them (docs/integrators.md, "The sandbox"). Shared by
// `npm run sandbox` (gateways as local processes) and
// docker/podman-sandbox.ts (gateways in containers), so both send the same.
import { AgencyClient, loadAgencyCredentials } from './agency-client.ts'
import { Progress } from './progress.ts'
import { requestAnswered, SAMPLE_ROUTES, sampleAnswer, sampleCorrection, sampleEnvelope } from './sample-messages.ts'

type Country = 'CA' | 'US'

export interface SampleTrafficOptions {
  readonly keysDir: string
  readonly urls: Readonly<Record<Country, string>>
  /** Prints a line (above the progress bar while one is drawn). */
  readonly say: (line: string) => void
  /** Called with each progress bar while it is drawn, and undefined after. */
  readonly onProgress?: (progress: Progress | undefined) => void
  /** How long to follow one message before giving up on its receipt (default 10 s). */
  readonly followMs?: number
}

export interface SampleTrafficResult {
  readonly sent: number
  readonly delivered: number
  /** The ids of the messages delivered to the partner gateway, the correction's included: what its agencies are then pushed. */
  readonly deliveredIds: readonly string[]
  /** The correction was refused or not delivered. */
  readonly correctionFailed: boolean
}

export async function sendSampleTraffic(opts: SampleTrafficOptions): Promise<SampleTrafficResult> {
  const { say } = opts
  const followMs = opts.followMs ?? 10_000
  const clients = new Map<string, AgencyClient>()
  const clientFor = (country: Country, agency: string, system: string): AgencyClient => {
    const k = `${country}/${agency}/${system}`
    if (!clients.has(k)) clients.set(k, new AgencyClient(loadAgencyCredentials(opts.keysDir, country, agency, system), opts.urls[country]))
    return clients.get(k)!
  }
  const show = (p: Progress | undefined): Progress | undefined => {
    opts.onProgress?.(p)
    return p
  }
  try {
    say('\nsample traffic: one message of each kind, each way')
    /** Follows a message until it is no longer `accepted`: its status, and the digest its receipt names. */
    const follow = async (client: AgencyClient, id: string): Promise<{ status: string; receipt: string }> => {
      let status = ''
      let receiptDigest = ''
      const deadline = Date.now() + followMs
      while (Date.now() < deadline) {
        const body = (await client.status(id)).json<{ status: string; receipt: { digest: string } | null }>()
        status = body.status
        receiptDigest = body.receipt?.digest ?? ''
        if (status !== 'accepted') break
        await new Promise((r) => setTimeout(r, 50))
      }
      return { status, receipt: receiptDigest ? `, receipt for sha256 ${receiptDigest.slice(0, 12)}…` : '' }
    }

    const sent: Array<{
      route: (typeof SAMPLE_ROUTES)[number]
      label: string
      client: AgencyClient
      envelope: Record<string, unknown>
      id: string
      status: number
      code?: string
    }> = []
    // Ten messages: on a pipe, the summary line alone says enough.
    let progress = show(new Progress({ label: 'sample traffic sent', total: SAMPLE_ROUTES.length, lineEveryFraction: 1 }))!
    for (const route of SAMPLE_ROUTES) {
      const c = clientFor(route.from.country, route.from.agency, route.from.system)
      // A match response answers the partner's request, once the partner's gateway has it.
      const request = route.kind === 'biometric.match-response' ? requestAnswered(route, sent) : undefined
      if (request?.status === 202) await follow(request.client, request.id)
      const envelope = c.envelope(request === undefined ? sampleEnvelope(route.kind, route.from.country, route.to) : sampleAnswer(route, request.envelope))
      const res = await c.submit(await c.sign(envelope))
      const label = `${route.kind.padEnd(24)} ${route.from.country}/${route.from.agency} -> ${route.to.country}/${route.to.agency}`
      sent.push({
        route,
        label,
        client: c,
        envelope,
        id: String(envelope.id),
        status: res.status,
        code: res.status === 202 ? undefined : res.json<{ code: string }>().code
      })
      progress.tick(1, res.status === 202 ? 'ok' : 'refused')
    }
    progress.finish()

    progress = show(new Progress({ label: 'sample traffic delivered', total: sent.length, lineEveryFraction: 1 }))!
    let delivered = 0
    const deliveredIds: string[] = []
    for (const s of sent) {
      if (s.status !== 202) {
        say(`  ${s.label}  refused ${s.status} ${s.code}`)
        progress.tick(1, 'refused')
        continue
      }
      const { status, receipt } = await follow(s.client, s.id)
      if (status === 'delivered') {
        delivered++
        deliveredIds.push(s.id)
      }
      say(`  ${s.label}  202 -> ${status}${receipt}`)
      progress.tick(1, status === 'delivered' ? 'ok' : 'failed')
    }
    progress.finish()
    show(undefined)

    // A correction, followed end to end (docs/integrators.md, "Corrections and
    // retractions"): CBSA corrects the entry record it sent above; CBP's mock
    // system receives it naming the original, which both gateways link it to.
    const corrected = sent.find((s) => s.label.startsWith('entry-exit.record ') && s.label.includes('CA/CBSA') && s.status === 202)
    let correctionFailed = false
    if (corrected !== undefined) {
      say(`\ncorrection: CBSA corrects the entry record ${corrected.id} (its crossing time)`)
      const envelope = corrected.client.envelope(sampleCorrection(corrected.envelope))
      const res = await corrected.client.submit(await corrected.client.sign(envelope))
      if (res.status !== 202) {
        correctionFailed = true
        say(`  ${corrected.label}  refused ${res.status} ${res.json<{ code: string }>().code}`)
      } else {
        const { status, receipt } = await follow(corrected.client, String(envelope.id))
        correctionFailed = status !== 'delivered'
        if (!correctionFailed) deliveredIds.push(String(envelope.id))
        say(`  ${corrected.label}  202 -> ${status}${receipt}, superseding ${corrected.id}`)
      }
    }
    return { sent: sent.length, delivered, deliveredIds, correctionFailed }
  } finally {
    show(undefined)
    await Promise.all([...clients.values()].map((c) => c.close()))
  }
}

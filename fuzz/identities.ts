// Every identity the fuzzer speaks as, read from the committed example PKI.
// The gateway decides by certificate first (agency, partner gateway, privacy
// officer, operator, unregistered, none), so each role it distinguishes is one
// identity here, with the signing key it would hold.
import { createPrivateKey, type KeyObject } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

export const KEYS_DIR = join(import.meta.dirname, '..', 'keys-example')

/** Names the fuzzer uses for its callers of the CA gateway. */
export type IdentityName =
  | 'CBSA'
  | 'IRCC' // agency systems of the CA gateway
  | 'US_GATEWAY' // the partner gateway, the only caller /v1/exchange admits
  | 'OFFICER' // the CA privacy officer po-1
  | 'OPERATOR' // the CA operator ops-1 (a registered certificate of the wrong role)
  | 'CBP' // a US agency certificate: it chains (the partner CA is trusted for the pinned gateway) but is not registered here
  | 'ANONYMOUS' // no client certificate at all

export interface Signer {
  readonly kid: string
  readonly alg: 'ES256' | 'EdDSA'
  readonly key: KeyObject
}

export interface Identity {
  readonly name: IdentityName
  /** TLS client credentials; undefined for ANONYMOUS. */
  readonly cert?: string
  readonly key?: string
  /** The root that issued the CA gateway's server certificate. */
  readonly ca: string
  /** Whether POST /v1/token gives this certificate a token. */
  readonly getsToken: boolean
}

export interface Identities {
  readonly byName: Readonly<Record<IdentityName, Identity>>
  /** Signing keys registered in the CA gateway's trust: the agencies' and the partner gateway's. */
  readonly signers: { readonly CBSA: Signer; readonly IRCC: Signer; readonly US_GATEWAY: Signer; readonly CA_GATEWAY: Signer; readonly CBP: Signer }
  /** The systems as the envelope names them. */
  readonly systems: {
    readonly CBSA: { country: 'CA'; agency: 'CBSA'; system: 'pik-primary' }
    readonly IRCC: { country: 'CA'; agency: 'IRCC'; system: 'gcms-biometrics' }
  }
  /** For the webhook sinks: a server certificate each gateway's agency CA vouches for. */
  readonly sinks: { readonly CA: { cert: string; key: string }; readonly US: { cert: string; key: string } }
}

const read = (...parts: string[]): string => readFileSync(join(KEYS_DIR, ...parts), 'utf8')

function jwkSigner(file: string): Signer {
  const jwk = JSON.parse(readFileSync(file, 'utf8')) as { kid: string; alg: 'ES256' | 'EdDSA' }
  return { kid: jwk.kid, alg: jwk.alg, key: createPrivateKey({ key: jwk as never, format: 'jwk' }) }
}

function gatewaySigner(country: 'CA' | 'US'): Signer {
  const dir = join(KEYS_DIR, country)
  const file = readdirSync(dir).find((f) => f.startsWith('gateway.signing.') && f.endsWith('.private.jwk.json'))
  if (file === undefined) throw new Error(`no gateway signing key in ${dir}`)
  return jwkSigner(join(dir, file))
}

export function loadIdentities(): Identities {
  const caRoot = read('CA', 'ca.crt.pem')
  const agency = (country: 'CA' | 'US', dir: string) => ({
    cert: read(country, 'agencies', dir, 'client.crt.pem'),
    key: read(country, 'agencies', dir, 'client.key.pem')
  })
  const byName: Record<IdentityName, Identity> = {
    CBSA: { name: 'CBSA', ...agency('CA', 'CBSA-pik-primary'), ca: caRoot, getsToken: true },
    IRCC: { name: 'IRCC', ...agency('CA', 'IRCC-gcms-biometrics'), ca: caRoot, getsToken: true },
    US_GATEWAY: { name: 'US_GATEWAY', cert: read('US', 'gateway.crt.pem'), key: read('US', 'gateway.key.pem'), ca: caRoot, getsToken: false },
    OFFICER: {
      name: 'OFFICER',
      cert: read('CA', 'privacy-officers', 'po-1', 'client.crt.pem'),
      key: read('CA', 'privacy-officers', 'po-1', 'client.key.pem'),
      ca: caRoot,
      getsToken: true
    },
    OPERATOR: {
      name: 'OPERATOR',
      cert: read('CA', 'operators', 'ops-1', 'client.crt.pem'),
      key: read('CA', 'operators', 'ops-1', 'client.key.pem'),
      ca: caRoot,
      getsToken: true
    },
    CBP: { name: 'CBP', ...agency('US', 'CBP-ades'), ca: caRoot, getsToken: false },
    ANONYMOUS: { name: 'ANONYMOUS', ca: caRoot, getsToken: false }
  }
  return {
    byName,
    signers: {
      CBSA: jwkSigner(join(KEYS_DIR, 'CA', 'agencies', 'CBSA-pik-primary', 'signing.private.jwk.json')),
      IRCC: jwkSigner(join(KEYS_DIR, 'CA', 'agencies', 'IRCC-gcms-biometrics', 'signing.private.jwk.json')),
      CBP: jwkSigner(join(KEYS_DIR, 'US', 'agencies', 'CBP-ades', 'signing.private.jwk.json')),
      US_GATEWAY: gatewaySigner('US'),
      CA_GATEWAY: gatewaySigner('CA')
    },
    systems: {
      CBSA: { country: 'CA', agency: 'CBSA', system: 'pik-primary' },
      IRCC: { country: 'CA', agency: 'IRCC', system: 'gcms-biometrics' }
    },
    sinks: { CA: agency('CA', 'CBSA-pik-primary'), US: agency('US', 'CBP-ades') }
  }
}

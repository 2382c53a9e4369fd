// The agency systems of the example PKI, as tools/generate-example-pki.ts
// issues their certificates and signing keys (keys-example/): the names by
// which the fault runs and the tests address them, kept here once. A name
// that drifted from the PKI would find no credentials, and every test that
// submits as that system would fail.
export const SYSTEMS = {
  CBSA: { country: 'CA', agency: 'CBSA', system: 'pik-primary' },
  IRCC: { country: 'CA', agency: 'IRCC', system: 'gcms-biometrics' },
  CBP: { country: 'US', agency: 'CBP', system: 'ades' },
  USCIS: { country: 'US', agency: 'USCIS', system: 'ident-gateway' }
} as const
export type SystemName = keyof typeof SYSTEMS

/** `CA/CBSA/pik-primary`: the system as the gateway names its caller. */
export const systemId = (name: SystemName): string => `${SYSTEMS[name].country}/${SYSTEMS[name].agency}/${SYSTEMS[name].system}`

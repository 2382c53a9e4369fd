// The agency systems of the example PKI (`npm run keys:example` writes their
// certificates and signing keys under keys-example/): the names by which the
// fault runs and the tests address them, kept here once.
export const SYSTEMS = {
  CBSA: { country: 'CA', agency: 'CBSA', system: 'pik-primary' },
  IRCC: { country: 'CA', agency: 'IRCC', system: 'gcms-biometrics' },
  CBP: { country: 'US', agency: 'CBP', system: 'ades' },
  USCIS: { country: 'US', agency: 'USCIS', system: 'ident-gateway' }
} as const
export type SystemName = keyof typeof SYSTEMS

/** `CA/CBSA/pik-primary`: the system as the gateway names its caller. */
export const systemId = (name: SystemName): string => `${SYSTEMS[name].country}/${SYSTEMS[name].agency}/${SYSTEMS[name].system}`

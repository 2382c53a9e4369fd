// The published rules (issue 13, point 5), from GET /v1/policies, for a
// reader who does not program: for each kind, purpose and direction, who may
// receive it, how long they may keep it, and for every field whether it goes
// and in what form, under which principle, and why (policies/catalogue.ts).
import { policies } from './api.js'
import { facts, h, show, table } from './dom.js'

const IN_WORDS = {
  share: 'goes as it is',
  generalise: 'goes, made less precise',
  pseudonymise: 'goes as a pseudonym',
  withhold: 'does not go'
}

function sectionId(policyId) {
  return `policy-${policyId.replace(/[^A-Za-z0-9-]/g, '-')}`
}

export async function policiesView(focus) {
  const catalogue = await policies()
  const principle = new Map(catalogue.principles.map((p) => [p.id, p.title]))
  const toc = h(
    'ul',
    { class: 'toc' },
    catalogue.kinds.map((k) => h('li', {}, h('a', { href: `#/policies/${encodeURIComponent(k.kind)}` }, k.kind)))
  )
  const kinds = catalogue.kinds.map((k) =>
    h(
      'section',
      { id: sectionId(k.kind), 'aria-labelledby': `${sectionId(k.kind)}-h`, tabindex: '-1' },
      h('h2', { id: `${sectionId(k.kind)}-h` }, k.kind),
      h('p', {}, 'Policy version ', h('code', {}, k.policyVersion)),
      k.purposes.flatMap((p) =>
        ['outbound', 'inbound']
          .filter((d) => p[d])
          .map((d) => {
            const rules = p[d]
            const id = `${k.kind}/${p.purpose}/${d}`
            return h(
              'section',
              // Named by the kind's heading and its own: the same purpose and direction recur under several kinds, and two regions of one name cannot be told apart.
              { id: sectionId(id), 'aria-labelledby': `${sectionId(k.kind)}-h ${sectionId(id)}-h`, tabindex: '-1', class: 'policy' },
              h('h3', { id: `${sectionId(id)}-h` }, `${p.purpose}, ${d === 'outbound' ? 'sent to the partner' : 'received from the partner'}`),
              facts([
                ['Who may receive it', rules.recipients.join(', ')],
                ['Kept for', rules.retentionDays === 0 ? 'not kept after use' : `${rules.retentionDays} days`],
                ['Passed on to others', rules.onwardTransfer ? 'allowed' : 'not allowed'],
                ['A person reviews any match', rules.humanReviewRequired ? 'yes' : 'no'],
                [
                  'Legal authorities',
                  Object.entries(p.legalAuthoritiesByCountry)
                    .map(([c, a]) => `${c}: ${a.join(', ')}`)
                    .join('; ')
                ]
              ]),
              table(
                `What happens to each field (${id})`,
                ['Field', 'What happens', 'Principle', 'Why'],
                rules.fields.map((f) => [
                  h('code', {}, f.path),
                  [
                    IN_WORDS[f.action] ?? f.action,
                    f.generaliser ? ` (${typeof f.generaliser === 'string' ? f.generaliser : JSON.stringify(f.generaliser)})` : '',
                    f.condition ? `; only if ${f.condition}` : ''
                  ],
                  `${f.principle} ${principle.get(f.principle) ?? ''}`,
                  f.why
                ])
              )
            )
          })
      )
    )
  )
  show('Published policies', h('nav', { 'aria-label': 'Kinds' }, toc), kinds)
  if (focus) {
    const target = document.getElementById(sectionId(focus))
    if (target) {
      target.scrollIntoView()
      target.focus()
    }
  }
}

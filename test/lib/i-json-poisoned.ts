// Run by test/i-json.test.ts in its own process: parses texts that poison
// V8's member-name cache, then reports how escaped names are read. The engine
// misreads an escaped name where the object so far has exactly one known next
// name, "\\"; a first member of a name no other text uses makes that certain.
import { parseIJson } from '../../gateway/lib/i-json.ts'

const seen: Record<string, unknown> = {}
for (const first of ['p1', 'p2', 'p3', 'p4']) JSON.parse(`{"${first}":[],"\\\\":0}`)
seen.engine = Object.keys(JSON.parse(String.raw`{"p1":1,"\u0061":1}`) as object)
seen.keys = Object.keys(parseIJson(String.raw`{"p2":1,"\u0061":1}`) as object)
seen.quoteKey = Object.keys(parseIJson(String.raw`{"p3":1,"\"":2}`) as object)
seen.nested = parseIJson(String.raw`{"p4":{"\n":[{"\t":-0,"x":"a\u00e9\\b"}],"n":1.5e3,"z":[true,false,null]}}`)
try {
  parseIJson(String.raw`{"a":1,"\u0061":2}`)
} catch (err) {
  seen.duplicate = (err as { code?: unknown }).code
}
process.stdout.write(JSON.stringify(seen))

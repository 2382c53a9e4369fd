// A pipeline worker thread (plugins/pipeline.ts): the same preparations the
// request's thread runs for small messages, with tools of its own built once
// from the keys it was started with.
import { workerData } from 'node:worker_threads'
import { Sealer } from '../lib/seal.ts'
import { amendSealed, type AmendTask } from './amend-sealed.ts'
import { PolicyBook } from './apply-policy.ts'
import { prepareInbound, type InboundTask } from './prepare-inbound.ts'
import { prepareDryRun, prepareOutbound, type DryRunTask, type OutboundTask, type PipelineTools } from './prepare-outbound.ts'
import { messageValidator } from './validate-message.ts'

export interface WorkerKeys {
  readonly sealKey: Buffer
  readonly auditKey: Buffer
  readonly pseudonymKey: Buffer
}

export type WorkerTask =
  | { readonly step: 'outbound'; readonly task: OutboundTask }
  | { readonly step: 'inbound'; readonly task: InboundTask }
  | { readonly step: 'amend'; readonly task: AmendTask }
  | { readonly step: 'dryRun'; readonly task: DryRunTask }

const keys = workerData as WorkerKeys
const tools: PipelineTools = {
  validator: messageValidator(),
  policyBook: new PolicyBook(Buffer.from(keys.auditKey), Buffer.from(keys.pseudonymKey)),
  sealer: new Sealer(Buffer.from(keys.sealKey))
}

export default function runStep(work: WorkerTask): Promise<unknown> {
  switch (work.step) {
    case 'outbound':
      return prepareOutbound(work.task, tools)
    case 'inbound':
      return prepareInbound(work.task, tools)
    case 'amend':
      return amendSealed(work.task, tools)
    case 'dryRun':
      return prepareDryRun(work.task, tools)
  }
}

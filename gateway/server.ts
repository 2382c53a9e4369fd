// The entry point: read the environment, build, listen, shut down gracefully.
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.ts'
import { configFromEnv } from './config.ts'

const config = configFromEnv()
const app = await buildApp(config)
closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err !== undefined) app.log.error({ err }, 'shutting down after an error')
  else app.log.info({ signal }, 'shutting down')
  await app.close()
})
await app.listen({ host: config.host, port: config.port })

import { startService } from '@arrivals/service-kit'
import { buildApp } from './app.js'
import { readSettings } from './settings.js'

await startService({ service: 'subscriptions', env: process.env, readSettings, buildApp })

import { fileURLToPath } from 'node:url'
import type { Page } from '@playwright/test'
import { expect, test } from '../src/console-stack.js'

/** `pnpm console:screenshots` writes here; README and docs/ARCHITECTURE.md link these files. */
const docs = fileURLToPath(new URL('../../../docs/console/', import.meta.url))

const desktop = { width: 1280, height: 800 }
const phone = { width: 390, height: 844 }

test.describe.configure({ mode: 'serial' })

async function shoot(page: Page, name: string) {
  // Times and sparklines settle once the API answered; the fonts are the system's.
  await page.waitForLoadState('networkidle')
  await page.screenshot({ path: `${docs}${name}.png`, fullPage: true, animations: 'disabled' })
}

for (const [size, viewport] of [['desktop', desktop], ['phone', phone]] as const) {
  test(`the main views at ${size} width`, async ({ page, world }) => {
    await page.setViewportSize(viewport)
    await page.goto(`${world.url}/console/`)
    await shoot(page, `sign-in-${size}`)

    await page.getByLabel('API key').fill(world.tenant.apiKey)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await expect(page.getByText('Showing 4 of 4 loaded.')).toBeVisible()
    await shoot(page, `subscriptions-${size}`)

    await page.getByRole('link', { name: world.flows.northwind.name }).click()
    await expect(page.getByRole('list', { name: 'Delivery attempts, newest first' }).getByRole('listitem')).toHaveCount(3)
    await shoot(page, `attempts-${size}`)

    await page.getByRole('link', { name: 'Dead letters', exact: true }).first().click()
    await expect(page.getByRole('button', { name: 'Replay' })).toBeVisible()
    await shoot(page, `dead-letters-${size}`)
  })
}

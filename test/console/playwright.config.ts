import { defineConfig, devices } from '@playwright/test'

/**
 * Debian's Chromium (`apt-get install chromium`; .ci/run installs it): Playwright's own browser
 * download is not reachable from our machines. The flags keep a headless run quiet and offline.
 */
const chromium = {
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
}

export default defineConfig({
  // One stack (three processes) per worker on a small shared machine: one worker, tests in order.
  workers: 1,
  fullyParallel: false,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  forbidOnly: true,
  reporter: [['list']],
  outputDir: 'test-results',
  use: {
    browserName: 'chromium',
    launchOptions: chromium,
    trace: 'retain-on-failure',
    locale: 'en-GB',
    timezoneId: 'UTC',
  },
  projects: [
    { name: 'browser', testDir: 'test', use: { ...devices['Desktop Chrome'], launchOptions: chromium } },
    { name: 'screenshots', testDir: 'screenshots', use: { launchOptions: chromium } },
  ],
})

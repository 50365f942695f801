/** The broker could not be reached, or did not confirm in time. Nothing was accepted; retry later. */
export class PublishUnavailableError extends Error {
  override readonly name = 'PublishUnavailableError'
}

/** The event does not match its contract; it was not published. */
export class InvalidEventError extends Error {
  override readonly name = 'InvalidEventError'
}

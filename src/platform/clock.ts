/** The one source of "now": the app passes it down so tests can move time with a fake clock. */
export interface Clock {
  now(): Date;
}

declare global {
  namespace Express {
    interface Request {
      /** Equals the error body's traceId and, with tracing on, the trace id. */
      requestId: string;
      /** The raw `x-api-key` header when present (already format- and checksum-checked). */
      apiKey?: string;
    }
  }
}

export {};

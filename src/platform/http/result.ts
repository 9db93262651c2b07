import type { Response } from 'express';

/** A JSON response body; a promise does not fit (`then`), so a late body takes `whenAnswered`. */
export type ResponseBody =
  | string
  | number
  | boolean
  | null
  | readonly unknown[]
  | { readonly [key: string]: unknown; then?: never }
  | (object & { then?: never });

export interface HttpResult {
  status: number;
  body?: ResponseBody;
  headers?: Record<string, string>;
  /**
   * Takes the response over once the transaction has committed, instead of a body (a Server-Sent
   * Events stream): it writes its own status and headers, or throws an AppError before writing.
   */
  stream?: (res: Response) => Promise<void>;
}

const PENDING = Symbol('pending result');

/** A tenant handler's answer presented from statements still in flight (see `whenAnswered`). */
export interface PendingResult {
  readonly [PENDING]: true;
  settle(): Promise<HttpResult>;
}

/**
 * A tenant handler's answer from statements still in flight: COMMIT shares their round trip and
 * `present` (synchronous; the transaction is closed by then) builds the response from their rows.
 * If one fails, the transaction rolls back and the request fails with its error.
 */
export function whenAnswered<R>(answer: Promise<R>, present: (answer: R) => HttpResult): PendingResult {
  // A failure is reported by the transaction, which then never settles this result.
  answer.catch(() => undefined);
  return {
    [PENDING]: true,
    async settle() {
      return present(await answer);
    },
  };
}

export function isPending(result: HttpResult | PendingResult): result is PendingResult {
  return PENDING in result;
}

export async function sendResult(res: Response, result: HttpResult): Promise<void> {
  if (result.stream) {
    await result.stream(res);
    return;
  }
  if (result.headers) for (const [k, v] of Object.entries(result.headers)) res.setHeader(k, v);
  res.status(result.status);
  if (result.body === undefined || result.status === 204) res.end();
  else res.json(result.body);
}

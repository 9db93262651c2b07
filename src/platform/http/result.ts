import type { Response } from 'express';

/**
 * A JSON response body. A promise is not one (its `then` does not fit), so a handler cannot
 * return a body that settles later by mistake: that takes `whenAnswered`.
 */
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
 * The answer to a request whose last statements are still in flight when the handler returns:
 * the transaction closes and its COMMIT leaves in the same round trip as they do, and `present`
 * builds the response once they are answered. `present` is synchronous and only presents rows;
 * any statement it tried to issue would be refused (the transaction is closed). If a statement
 * fails, the commit becomes a rollback and the request fails with that statement's error.
 * Tenant routes only.
 */
export function whenAnswered<R>(answer: Promise<R>, present: (answer: R) => HttpResult): PendingResult {
  // A failed statement fails the transaction, which then never settles this result.
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

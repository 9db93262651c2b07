import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../log/logger.js';
import { AfterResponse } from './after-response.js';

function capturing(): { later: AfterResponse; lines: () => { msg: string; purpose?: string; err?: { message?: string } }[] } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  const later = new AfterResponse(createLogger('info', sink));
  return { later, lines: () => chunks.join('').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string }) };
}

describe('AfterResponse', () => {
  it('when the caller moves on, then the work runs afterwards and settled() waits for it and for work it starts', async () => {
    const { later } = capturing();
    const done: string[] = [];
    later.run('outer', () => {
      done.push('outer');
      later.run('inner', () => {
        done.push('inner');
        return Promise.resolve();
      });
      return Promise.resolve();
    });
    expect(done).toEqual([]);
    await later.settled();
    expect(done).toEqual(['outer', 'inner']);
  });

  it('when the work fails, then the failure is logged with its purpose, not thrown', async () => {
    const { later, lines } = capturing();
    later.run('password reset request', () => Promise.reject(new Error('database is down')));
    await later.settled();
    const [line, ...rest] = lines();
    expect(rest).toEqual([]);
    expect(line?.msg).toBe('password reset request failed after the response');
    expect(line?.purpose).toBe('password reset request');
    expect(line?.err?.message).toBe('database is down');
  });
});

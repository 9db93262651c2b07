import { describe, expect, it } from 'vitest';
import { activeTraceId, redactSqlLiterals, sqlOperation } from './tracing.js';

describe('redactSqlLiterals', () => {
  it('replaces every string literal, including ones with doubled quotes, and keeps placeholders', () => {
    const preamble =
      "BEGIN; SET LOCAL ROLE incident_app; SELECT set_config('app.tenant_id', '8d0c3a52-6f0e-4b8e-9a43-4f1c2e0f9a11', true), set_config('app.invite_token_hash', 'it''s-a-hash', true)";
    expect(redactSqlLiterals(preamble)).toBe('BEGIN; SET LOCAL ROLE incident_app; SELECT set_config(?, ?, true), set_config(?, ?, true)');
    expect(redactSqlLiterals('SELECT * FROM incidents WHERE tenant_id = $1 AND created_at > $2')).toBe(
      'SELECT * FROM incidents WHERE tenant_id = $1 AND created_at > $2',
    );
  });
});

describe('sqlOperation', () => {
  it('names a statement by its first keyword, in capitals', () => {
    expect(sqlOperation('  select 1')).toBe('SELECT');
    expect(sqlOperation('INSERT INTO t VALUES ($1)')).toBe('INSERT');
    expect(sqlOperation('(SELECT 1)')).toBe('QUERY');
  });
});

describe('activeTraceId', () => {
  it('is null when no SDK is registered, so the request id falls back to a random one', () => {
    expect(activeTraceId()).toBeNull();
  });
});

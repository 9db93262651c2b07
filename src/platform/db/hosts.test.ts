import { describe, expect, it } from 'vitest';
import { databaseHosts } from './hosts.js';

describe('databaseHosts', () => {
  it('when DATABASE_URL names one host, then that host with the URL unchanged', () => {
    expect(databaseHosts('postgres://app:s3cret@db.internal/incidents?sslmode=require')).toEqual([
      { host: 'db.internal', port: 5432, label: 'db.internal', url: 'postgres://app:s3cret@db.internal/incidents?sslmode=require' },
    ]);
  });

  it('when DATABASE_URL lists hosts libpq-style, then each gets a URL with the same credentials, database and options', () => {
    const hosts = databaseHosts('postgresql://app:p%40ss@10.0.0.1:5433,db2,[::1]:6000/incidents?sslmode=require');
    expect(hosts?.map((h) => [h.host, h.port, h.label])).toEqual([
      ['10.0.0.1', 5433, '10.0.0.1:5433'],
      ['db2', 5432, 'db2:5432'],
      ['::1', 6000, '[::1]:6000'],
    ]);
    expect(hosts?.map((h) => h.url)).toEqual([
      'postgresql://app:p%40ss@10.0.0.1:5433/incidents?sslmode=require',
      'postgresql://app:p%40ss@db2:5432/incidents?sslmode=require',
      'postgresql://app:p%40ss@[::1]:6000/incidents?sslmode=require',
    ]);
    // The label is what logs name; it never carries the password.
    expect(hosts?.some((h) => h.label.includes('p%40ss'))).toBe(false);
  });

  it.each([
    ['mysql://db1,db2/app', 'another scheme'],
    ['postgres://u@db1,,db2/app', 'an empty host'],
    ['postgres://u@db1:99999,db2/app', 'a port out of range'],
    ['postgres://u@db1:x,db2/app', 'a port that is not a number'],
    ['postgres://u@db 1,db2/app', 'a space in a host'],
    ['not a url', 'no URL at all'],
  ])('when DATABASE_URL is %s (%s), then it is refused', (url) => {
    expect(databaseHosts(url)).toBeNull();
  });
});

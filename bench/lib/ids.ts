/**
 * md5-derived ids make fixtures addressable by index without a lookup; the version and variant
 * nibbles are set so they are valid v4 UUIDs (the API's validators are strict).
 */
export const uuidSql = (kind: string, i: string): string => `overlay(overlay(md5('bench-${kind}-' || ${i}) placing '4' from 13) placing '8' from 17)::uuid`;
export const tenantIdSql = (i: string): string => uuidSql('tenant', i);
export const userIdSql = (i: string): string => uuidSql('user', i);
export const saIdSql = (i: string): string => uuidSql('sa', i);

import { z } from 'zod';
import { codePointLength, PASSWORD_MAX } from './auth.passwords.js';

/** Normalised email: trimmed and lower-cased before validation and storage. */
export const emailSchema = z
  .string()
  .max(320)
  .transform((v) => v.trim().toLowerCase())
  .pipe(z.email());

/** Over the maximum is refused here, before any hashing (docs/security.md 3); the rest of the policy is checked by the service. */
const passwordInput = z.string().min(1).max(PASSWORD_MAX * 4).refine((p) => codePointLength(p) <= PASSWORD_MAX, {
  error: `At most ${PASSWORD_MAX} characters.`,
});

export const signupBody = z
  .object({ email: emailSchema, password: passwordInput, name: z.string().trim().min(1).max(200) })
  .strict();

export const loginBody = z.object({ email: emailSchema, password: passwordInput }).strict();

export const forgotBody = z.object({ email: emailSchema }).strict();

export const resetBody = z.object({ token: z.string().min(1).max(200), password: passwordInput }).strict();

export const changeBody = z.object({ currentPassword: passwordInput, newPassword: passwordInput }).strict();

export interface UserRow {
  id: string;
  email: string;
  name: string;
  created_at: Date;
}

export function presentUser(u: UserRow) {
  return { id: u.id, email: u.email, name: u.name, createdAt: u.created_at.toISOString() };
}

import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateSigningSecret, webhookHeaders } from './webhook.signing.js';

// The oracle is the Standard Webhooks reference library, not this code (docs/security.md 52).
describe('Standard Webhooks signatures', () => {
  const body = JSON.stringify({ id: 'e1', seq: 1, type: 'incident.created' });
  const id = 'msg_0f9c2a9e';

  it('when signed with two secrets, then the reference library verifies with each', () => {
    const [a, b] = [generateSigningSecret(), generateSigningSecret()];
    const headers = webhookHeaders([a, b], id, new Date(), body);
    expect(headers['webhook-signature']?.split(' ')).toHaveLength(2);
    for (const secret of [a, b]) expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('when the body changes by one byte, the timestamp is over 5 minutes off, or the secret is another, then verification fails', () => {
    const secret = generateSigningSecret();
    const headers = webhookHeaders([secret], id, new Date(), body);
    expect(() => new Webhook(secret).verify(body.replace('1', '2'), headers)).toThrow();
    expect(() => new Webhook(secret).verify(body, webhookHeaders([secret], id, new Date(Date.now() - 6 * 60_000), body))).toThrow();
    expect(() => new Webhook(generateSigningSecret()).verify(body, headers)).toThrow();
  });
});

import type { Config } from '../../config.js';
import { resolveDataKeys, SecretBox } from '../../platform/crypto/secret-box.js';

/**
 * Signing secrets at rest: sealed with the data keyring, bound to their row (tenant, endpoint,
 * secret id) so a ciphertext copied to another row does not open there.
 */
export class WebhookSecrets {
  constructor(private readonly box: SecretBox) {}

  static fromConfig(config: Pick<Config, 'dataEncryption'>): WebhookSecrets {
    return new WebhookSecrets(new SecretBox(resolveDataKeys(config.dataEncryption)));
  }

  seal(secret: string, row: { tenantId: string; endpointId: string; secretId: string }): string {
    return this.box.encrypt(secret, contextOf(row));
  }

  open(ciphertext: string, row: { tenantId: string; endpointId: string; secretId: string }): string {
    return this.box.decrypt(ciphertext, contextOf(row));
  }
}

function contextOf(row: { tenantId: string; endpointId: string; secretId: string }): string {
  return `webhook_endpoint_secret:${row.tenantId}:${row.endpointId}:${row.secretId}`;
}

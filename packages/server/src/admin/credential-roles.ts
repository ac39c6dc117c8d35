/** The credential roles, on their own so the CLI can check a role without loading the server. */
import type { Credential } from '@verity/store';

/**
 * Every credential role, and whether it is bound to one tenant. What each may do is the system
 * policies' (system-policies.cedar); `platform-admin` and `monitor` are platform-wide.
 */
export const CREDENTIAL_ROLES = { 'platform-admin': 'platform', monitor: 'platform', 'policy-author': 'tenant', pep: 'tenant', 'pep-local': 'tenant' } as const satisfies Record<Credential['role'], 'platform' | 'tenant'>;

/** Whether `value` names a credential role ({@link CREDENTIAL_ROLES}). */
export function isCredentialRole(value: unknown): value is Credential['role'] {
  return typeof value === 'string' && Object.hasOwn(CREDENTIAL_ROLES, value);
}

/** The roles as a sentence's list: "platform-admin, monitor, policy-author, pep or pep-local". */
export const CREDENTIAL_ROLE_LIST = Object.keys(CREDENTIAL_ROLES).join(', ').replace(/, ([^,]+)$/, ' or $1');

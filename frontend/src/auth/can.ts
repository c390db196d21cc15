/**
 * The role matrix of API.md as the gateway applies it: `policy.json` is a copy of
 * `services/gateway/policy.py`'s POLICY (tests/unit/test_webapp_policy.py keeps
 * them equal). The UI leaves out every action a role may not use.
 */
import policy from './policy.json';

export type Action = keyof typeof policy;
export const ROLES = ['admin', 'data-scientist', 'business-user', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export function can(action: Action, roles: readonly string[]): boolean {
  const allowed: readonly string[] = policy[action] ?? [];
  return roles.some((role) => allowed.includes(role));
}

/** The role shown in the header: the strongest the user holds. */
export function mainRole(roles: readonly string[]): Role | null {
  return ROLES.find((role) => roles.includes(role)) ?? null;
}

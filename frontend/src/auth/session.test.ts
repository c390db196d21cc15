import { describe, expect, it } from 'vitest';
import { User } from 'oidc-client-ts';
import { safeReturnTo, toSessionUser } from './session';

const b64 = (value: object) => btoa(JSON.stringify(value)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');

describe('session helpers', () => {
  it('goes back only to a path of this origin', () => {
    expect(safeReturnTo('/models?q=vins')).toBe('/models?q=vins');
    expect(safeReturnTo('//evil.example/x')).toBe('/');
    expect(safeReturnTo('https://evil.example')).toBe('/');
    expect(safeReturnTo(undefined)).toBe('/');
  });

  it('reads the roles from the access token and the names from the id token', () => {
    const access = `${b64({ alg: 'RS256' })}.${b64({ realm_access: { roles: ['viewer'] }, preferred_username: 'viewer' })}.sig`;
    const user = new User({
      access_token: access,
      token_type: 'Bearer',
      profile: { sub: 'u1', iss: 'x', aud: 'y', exp: 0, iat: 0, preferred_username: 'viewer', given_name: 'Véra', family_name: 'Viewer' },
    });
    expect(toSessionUser(user)).toEqual({ username: 'viewer', name: 'Véra Viewer', email: null, roles: ['viewer'] });
  });
});

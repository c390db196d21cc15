/**
 * The browser session (oidc-client-ts): authorization code + PKCE against the
 * issuer of `/app-config.json`, redirect to `/auth/callback`, then back to the
 * page that was asked for.
 *
 * Tokens live in sessionStorage only (user and sign-in state stores), never in
 * localStorage or a URL. The access token is renewed with the refresh token at
 * 3/4 of its lifetime (no hidden iframe: the login page refuses framing).
 */
import { User, UserManager, WebStorageStateStore } from 'oidc-client-ts';
import type { AppConfig } from './config';

export const CALLBACK_PATH = '/auth/callback';

interface LoginState {
  returnTo: string;
}

export interface SessionUser {
  username: string;
  name: string;
  email: string | null;
  roles: string[];
}

function decodeJwtPayload(token: string): Record<string, unknown> {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(
      atob(part)
        .split('')
        .map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
        .join(''),
    );
    return JSON.parse(json) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** The user as the app shows it: names from the id token, roles from the access token. */
export function toSessionUser(user: User): SessionUser {
  const claims = decodeJwtPayload(user.access_token);
  const realm = claims.realm_access as { roles?: unknown } | undefined;
  const roles = Array.isArray(realm?.roles) ? realm.roles.map(String) : [];
  const profile = user.profile;
  const username = String(profile.preferred_username ?? claims.preferred_username ?? profile.sub);
  const fullName = [profile.given_name, profile.family_name].filter(Boolean).join(' ');
  return {
    username,
    name: String(profile.name || fullName || username),
    email: (profile.email as string | undefined) ?? null,
    roles,
  };
}

export function currentPath(): string {
  const { pathname, search, hash } = window.location;
  return pathname.startsWith(CALLBACK_PATH) ? '/' : `${pathname}${search}${hash}`;
}

/** Only same-origin paths are accepted as a place to go back to (no open redirect). */
export function safeReturnTo(value: unknown): string {
  return typeof value === 'string' && value.startsWith('/') && !value.startsWith('//') ? value : '/';
}

type Listener = () => void;

export class Session {
  readonly manager: UserManager;
  private user: User | null = null;
  private renewTimer: ReturnType<typeof setTimeout> | undefined;
  private renewing: Promise<boolean> | null = null;
  private listeners = new Set<Listener>();

  constructor(config: AppConfig, origin = window.location.origin) {
    const store = new WebStorageStateStore({ store: window.sessionStorage });
    this.manager = new UserManager({
      authority: config.issuer,
      client_id: config.client_id,
      redirect_uri: `${origin}${CALLBACK_PATH}`,
      post_logout_redirect_uri: `${origin}/`,
      response_type: 'code',
      scope: 'openid profile email',
      userStore: store,
      stateStore: store,
      automaticSilentRenew: false,
      monitorSession: false,
      loadUserInfo: false,
    });
  }

  /**
   * Finish a login redirect or restore the session; when there is none, start the
   * login (resolves false: the page is navigating away).
   */
  async start(): Promise<boolean> {
    if (window.location.pathname === CALLBACK_PATH) {
      try {
        const user = await this.manager.signinRedirectCallback();
        const state = user.state as LoginState | undefined;
        window.history.replaceState(null, '', safeReturnTo(state?.returnTo));
        this.setUser(user);
        return true;
      } catch {
        // a stale or replayed callback: start over from the home page
        window.history.replaceState(null, '', '/');
      }
    }
    const stored = await this.manager.getUser();
    if (stored && !stored.expired) {
      this.setUser(stored);
      return true;
    }
    if (stored?.refresh_token && (await this.renew())) return true;
    await this.login();
    return false;
  }

  /** Go through the login page, then back to `returnTo` (default: this page). */
  async login(returnTo: string = currentPath()): Promise<void> {
    const state: LoginState = { returnTo: safeReturnTo(returnTo) };
    await this.manager.removeUser();
    await this.manager.signinRedirect({ state });
  }

  /** "Se déconnecter": the issuer's end-session endpoint, then back to `/`. */
  async logout(): Promise<void> {
    const idToken = this.user?.id_token;
    this.clearTimer();
    this.user = null;
    try {
      await this.manager.signoutRedirect({ id_token_hint: idToken });
    } catch {
      await this.manager.removeUser();
      window.location.assign('/');
    }
  }

  /** Renew the tokens with the refresh token; false when the session is over. */
  renew(): Promise<boolean> {
    if (!this.renewing) {
      this.renewing = (async () => {
        try {
          const user = await this.manager.signinSilent();
          if (!user) return false;
          this.setUser(user);
          return true;
        } catch {
          return false;
        } finally {
          this.renewing = null;
        }
      })();
    }
    return this.renewing;
  }

  /** For the API client: a 401 renews once, else sends the user through the login. */
  async onUnauthorized(): Promise<boolean> {
    if (await this.renew()) return true;
    await this.login();
    return false;
  }

  getToken(): string | null {
    return this.user?.access_token ?? null;
  }

  getUser(): SessionUser | null {
    return this.user ? toSessionUser(this.user) : null;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private setUser(user: User): void {
    this.user = user;
    this.scheduleRenewal(user);
    this.listeners.forEach((listener) => listener());
  }

  private clearTimer(): void {
    if (this.renewTimer !== undefined) clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
  }

  private scheduleRenewal(user: User): void {
    this.clearTimer();
    const remaining = user.expires_in;
    if (remaining === undefined || !user.refresh_token) return;
    const lifetime = user.expires_at && user.profile.iat ? user.expires_at - Number(user.profile.iat) : remaining;
    // Renew when a quarter of the lifetime is left (at least 2 s before expiry).
    const delay = Math.max(0, remaining - Math.max(2, lifetime / 4)) * 1000;
    this.renewTimer = setTimeout(() => void this.renew(), delay);
  }
}

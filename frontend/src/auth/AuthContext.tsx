/** React access to the session: who is signed in, what they may do, sign out. */
import { createContext, useContext, useMemo, useSyncExternalStore, type ReactNode } from 'react';
import { can as canRoles, mainRole, type Action, type Role } from './can';
import type { Session, SessionUser } from './session';

export interface Auth {
  user: SessionUser;
  role: Role | null;
  can: (action: Action) => boolean;
  logout: () => Promise<void>;
}

const AuthContext = createContext<Auth | null>(null);

export function AuthProvider({ session, children }: { session: Session; children: ReactNode }) {
  const snapshot = useSyncExternalStore(
    (listener) => session.subscribe(listener),
    () => session.getToken(),
  );
  const value = useMemo<Auth | null>(() => {
    const user = snapshot ? session.getUser() : null;
    if (!user) return null;
    return {
      user,
      role: mainRole(user.roles),
      can: (action) => canRoles(action, user.roles),
      logout: () => session.logout(),
    };
  }, [session, snapshot]);
  if (!value) return null;
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

/** A fixed signed-in user (unit tests and stories). */
export function StaticAuthProvider({ auth, children }: { auth: Auth; children: ReactNode }) {
  return <AuthContext.Provider value={auth}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error('useAuth outside AuthProvider');
  return auth;
}

/** `const can = useCan(); can('models:write') && <Button/>` */
export function useCan(): (action: Action) => boolean {
  return useAuth().can;
}

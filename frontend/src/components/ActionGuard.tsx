/** A route only some roles may open (e.g. a creation form): a clear 403 for the others. */
import type { ReactNode } from 'react';
import { Forbidden } from './StatusMessage';
import { useCan } from '../auth/AuthContext';
import type { Action } from '../auth/can';

export function ActionGuard({ action, children }: { action: Action; children: ReactNode }) {
  const can = useCan();
  if (!can(action)) {
    return <Forbidden />;
  }
  return <>{children}</>;
}

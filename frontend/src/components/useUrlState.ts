/**
 * List state (search, filters, sort, page) kept in the URL: a link reproduces the
 * view; each change replaces the history entry; defaults are left out.
 */
import { useCallback, useMemo } from 'react';
import { useSearchParams } from 'react-router-dom';

export type UrlStateValue = string | number | undefined;

export function useUrlState<T extends Record<string, UrlStateValue>>(defaults: T) {
  const [params, setParams] = useSearchParams();
  const state = useMemo(() => {
    const out: Record<string, UrlStateValue> = { ...defaults };
    for (const [key, fallback] of Object.entries(defaults)) {
      const raw = params.get(key);
      if (raw === null) continue;
      out[key] = typeof fallback === 'number' ? Number(raw) || fallback : raw;
    }
    return out as T;
    // defaults is a constant of the caller
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [params]);

  const update = useCallback(
    (patch: Partial<T>) => {
      setParams(
        (current) => {
          const next = new URLSearchParams(current);
          for (const [key, value] of Object.entries(patch)) {
            if (value === undefined || value === '' || value === defaults[key]) next.delete(key);
            else next.set(key, String(value));
          }
          return next;
        },
        { replace: true },
      );
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [setParams],
  );
  return [state, update] as const;
}

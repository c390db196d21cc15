/** The Users queries and mutations (TanStack Query over the one API client). */
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { apiFetch, type QueryValue } from '../../api/client';
import { userKeys } from '../../api/keys';
import type { User, UserCreate, UserPage, UserUpdate } from '../../api/types';

export const ROLES = ['admin', 'data-scientist', 'business-user', 'viewer'] as const;

export interface UserListParams extends Record<string, QueryValue> {
  q?: string;
  role?: string;
  active?: boolean;
  page?: number;
  per_page?: number;
}

export function useUsers(params: UserListParams) {
  return useQuery({
    queryKey: userKeys.list(params),
    queryFn: ({ signal }) => apiFetch<UserPage>('/users', { query: params, signal }),
    placeholderData: keepPreviousData,
  });
}

function useUserMutation<A>(call: (args: A) => Promise<User>) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: call,
    onSuccess: (user) => {
      client.setQueryData(userKeys.detail(user.id), user);
      void client.invalidateQueries({ queryKey: userKeys.all });
    },
  });
}

const path = (id: string, what = '') => `/users/${encodeURIComponent(id)}${what}`;

export function useCreateUser() {
  return useUserMutation((data: UserCreate) => apiFetch<User>('/users', { method: 'POST', json: data }));
}

export function useUpdateUser() {
  return useUserMutation(({ id, changes }: { id: string; changes: UserUpdate }) =>
    apiFetch<User>(path(id), { method: 'PATCH', json: changes }),
  );
}

export function useResetPassword() {
  return useUserMutation(({ id, password, temporary }: { id: string; password: string; temporary: boolean }) =>
    apiFetch<User>(path(id, '/reset-password'), { method: 'POST', json: { password, temporary } }),
  );
}

export function useUnlockUser() {
  return useUserMutation((id: string) => apiFetch<User>(path(id, '/unlock'), { method: 'POST' }));
}

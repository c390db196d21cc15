/** Guide 8.1 « Liste des utilisateurs »: search, role and state filters (in the URL), and
 * every action of an admin on a user: create, edit, (de)activate, reset password, unlock. */
import { useEffect, useState } from 'react';
import { Button, Flex, Input, message as antMessage, Modal, Select, Space, Tag, Tooltip } from 'antd';
import { EditOutlined, KeyOutlined, PlusOutlined, UnlockOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import type { User } from '../../api/types';
import { errorMessage } from '../../api/errors';
import { DataTable, type Column } from '../../components/DataTable';
import { DateTime } from '../../components/DateTime';
import { ErrorState } from '../../components/QueryState';
import { useDebounced } from '../../components/useDebounced';
import { useUrlState } from '../../components/useUrlState';
import { ROLES, useUnlockUser, useUpdateUser, useUsers } from './api';
import { UserFormDialog } from './UserFormDialog';
import { ResetPasswordDialog } from './ResetPasswordDialog';

const DEFAULTS = {
  q: undefined as string | undefined,
  role: undefined as string | undefined,
  state: undefined as string | undefined,
  page: 1,
  per_page: 20,
};

export function displayName(user: User): string {
  return [user.first_name, user.last_name].filter(Boolean).join(' ') || user.username;
}

export default function UsersListPage() {
  const { t } = useTranslation();
  // Hooks (not App.useApp): the dialogs take the app's theme wherever the page is rendered.
  const [modal, modalHolder] = Modal.useModal();
  const [message, messageHolder] = antMessage.useMessage();
  const [state, setState] = useUrlState(DEFAULTS);
  const [search, setSearch] = useState(state.q ?? '');
  const debounced = useDebounced(search, 250);
  const [editing, setEditing] = useState<User | 'new' | null>(null);
  const [resetting, setResetting] = useState<User | null>(null);
  const update = useUpdateUser();
  const unlock = useUnlockUser();

  useEffect(() => {
    if ((debounced || undefined) !== state.q) setState({ q: debounced || undefined, page: 1 });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [debounced]);

  const query = useUsers({
    q: state.q,
    role: state.role,
    active: state.state === undefined ? undefined : state.state === 'active',
    page: state.page,
    per_page: state.per_page,
  });

  const toggleActive = (user: User) => {
    const deactivate = user.active;
    const name = `${displayName(user)} (${user.username})`;
    modal.confirm({
      title: t(deactivate ? 'users.deactivate_title' : 'users.reactivate_title'),
      content: t(deactivate ? 'users.deactivate_confirm' : 'users.reactivate_confirm', { name }),
      okText: t(deactivate ? 'users.deactivate' : 'users.reactivate'),
      okButtonProps: deactivate ? { danger: true } : undefined,
      cancelText: t('common.cancel'),
      onOk: async () => {
        try {
          await update.mutateAsync({ id: user.id, changes: { active: !deactivate } });
          void message.success(t(deactivate ? 'users.deactivated' : 'users.reactivated', { name }));
        } catch (caught) {
          modal.error({ title: t('users.action_failed'), content: userError(caught, t) });
        }
      },
    });
  };

  const doUnlock = async (user: User) => {
    try {
      await unlock.mutateAsync(user.id);
      void message.success(t('users.unlocked', { name: user.username }));
    } catch (caught) {
      modal.error({ title: t('users.action_failed'), content: userError(caught, t) });
    }
  };

  const columns: Column<User>[] = [
    { key: 'username', title: t('users.fields.username'), render: (user) => user.username },
    { key: 'name', title: t('users.fields.name'), render: (user) => [user.first_name, user.last_name].filter(Boolean).join(' ') },
    { key: 'email', title: t('users.fields.email'), render: (user) => user.email },
    { key: 'role', title: t('users.fields.role'), render: (user) => t(`roles.${user.role}`, { defaultValue: user.role }) },
    {
      key: 'state',
      title: t('users.fields.state'),
      render: (user) => (
        <Space size={4} wrap>
          {user.active ? (
            <Tag color="#135200">{t('users.states.active')}</Tag>
          ) : (
            <Tag color="#595959">{t('users.states.inactive')}</Tag>
          )}
          {user.locked && (
            <Tooltip title={user.locked_until ? <DateTime value={user.locked_until} /> : undefined}>
              <Tag color="#a8071a">{t('users.states.locked')}</Tag>
            </Tooltip>
          )}
          {user.password_temporary && <Tag color="#874d00">{t('users.states.temporary')}</Tag>}
        </Space>
      ),
    },
    { key: 'created_at', title: t('users.fields.created_at'), render: (user) => <DateTime value={user.created_at} /> },
    {
      key: 'actions',
      title: t('common.actions'),
      render: (user) => (
        <Space size="small" wrap>
          <Tooltip title={t('common.edit')}>
            <Button type="text" icon={<EditOutlined />} aria-label={`${t('common.edit')} ${user.username}`} onClick={() => setEditing(user)} />
          </Tooltip>
          <Tooltip title={t('users.reset_password')}>
            <Button
              type="text"
              icon={<KeyOutlined />}
              aria-label={`${t('users.reset_password')} ${user.username}`}
              onClick={() => setResetting(user)}
            />
          </Tooltip>
          {user.locked && (
            <Button size="small" icon={<UnlockOutlined />} onClick={() => void doUnlock(user)} aria-label={`${t('users.unlock')} ${user.username}`}>
              {t('users.unlock')}
            </Button>
          )}
          <Button size="small" danger={user.active} onClick={() => toggleActive(user)} aria-label={`${t(user.active ? 'users.deactivate' : 'users.reactivate')} ${user.username}`}>
            {t(user.active ? 'users.deactivate' : 'users.reactivate')}
          </Button>
        </Space>
      ),
    },
  ];

  return (
    <div>
      {modalHolder}
      {messageHolder}
      <Flex justify="space-between" align="center" style={{ marginBottom: 16 }}>
        <h2 style={{ margin: 0, fontSize: 28, fontWeight: 600 }}>{t('users.title')}</h2>
        <Button type="primary" icon={<PlusOutlined />} onClick={() => setEditing('new')}>
          {t('users.add')}
        </Button>
      </Flex>
      <Space wrap style={{ marginBottom: 16 }} role="search">
        <Input.Search
          allowClear
          style={{ width: 320 }}
          placeholder={t('users.search_placeholder')}
          aria-label={t('users.search_placeholder')}
          value={search}
          onChange={(event) => setSearch(event.target.value)}
          onSearch={(value) => setSearch(value)}
        />
        <Select
          allowClear
          style={{ width: 200 }}
          placeholder={t('users.fields.role')}
          aria-label={t('users.fields.role')}
          value={state.role}
          options={ROLES.map((role) => ({ value: role, label: t(`roles.${role}`) }))}
          onChange={(value) => setState({ role: value, page: 1 })}
        />
        <Select
          allowClear
          style={{ width: 180 }}
          placeholder={t('users.fields.state')}
          aria-label={t('users.fields.state')}
          value={state.state}
          options={[
            { value: 'active', label: t('users.states.active') },
            { value: 'inactive', label: t('users.states.inactive') },
          ]}
          onChange={(value) => setState({ state: value, page: 1 })}
        />
      </Space>
      {query.error ? (
        <ErrorState error={query.error} onRetry={() => void query.refetch()} />
      ) : (
        <DataTable<User>
          testId="users-table"
          columns={columns}
          rows={query.data?.items}
          rowKey={(user) => user.id}
          loading={query.isFetching}
          empty={t('users.empty')}
          page={state.page}
          perPage={state.per_page}
          total={query.data?.total ?? 0}
          onPage={(page, perPage) => setState({ page, per_page: perPage })}
          totalText={(total) => t('users.total', { count: total })}
        />
      )}
      {editing && <UserFormDialog user={editing === 'new' ? null : editing} onClose={() => setEditing(null)} notify={(text) => void message.success(text)} />}
      {resetting && <ResetPasswordDialog user={resetting} onClose={() => setResetting(null)} notify={(text) => void message.success(text)} />}
    </div>
  );
}

/** The French message of a failed user action (the last-admin rule has its own words). */
export function userError(caught: unknown, t: (key: string) => string): string {
  const error = caught as { status?: number; details?: Record<string, unknown> };
  if (error?.status === 409 && error.details?.rule === 'last_active_admin') return t('users.last_admin');
  return errorMessage(caught, t as never);
}

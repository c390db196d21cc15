/** « Création d'utilisateur » / « Modification d'utilisateur » (guide 8.1), in a dialog.
 * The server's field errors are shown next to their fields. */
import { useState } from 'react';
import { Alert, Checkbox, Form, Input, Modal, Select } from 'antd';
import { useTranslation } from 'react-i18next';
import { ApiError } from '../../api/client';
import type { User, UserCreate } from '../../api/types';
import { ROLES, useCreateUser, useUpdateUser } from './api';
import { userError } from './UsersListPage';

type Values = UserCreate;
const FIELDS = ['username', 'first_name', 'last_name', 'email', 'role', 'password', 'temporary'];

export function UserFormDialog({ user, onClose, notify }: { user: User | null; onClose: () => void; notify: (text: string) => void }) {
  const { t } = useTranslation();
  const [form] = Form.useForm<Values>();
  const [error, setError] = useState<string | null>(null);
  const create = useCreateUser();
  const update = useUpdateUser();
  const editing = user !== null;

  const submit = async (values: Values) => {
    setError(null);
    try {
      if (editing) {
        const { first_name, last_name, email, role } = values;
        await update.mutateAsync({ id: user.id, changes: { first_name, last_name, email, role } });
        notify(t('users.saved', { name: user.username }));
      } else {
        await create.mutateAsync({ ...values, temporary: Boolean(values.temporary) });
        notify(t('users.created', { name: values.username }));
      }
      onClose();
    } catch (caught) {
      if (!(caught instanceof ApiError)) throw caught;
      const fields = Object.entries(caught.fieldErrors()).filter(([name]) => FIELDS.includes(name));
      form.setFields(fields.map(([name, errors]) => ({ name: name as keyof Values, errors })));
      if (caught.status === 409 && !editing) {
        form.setFields([{ name: 'username', errors: [t('users.username_taken')] }]);
      } else if (fields.length === 0) {
        setError(userError(caught, t));
      }
    }
  };

  return (
    <Modal
      open
      title={t(editing ? 'users.edit_title' : 'users.create_title')}
      okText={t(editing ? 'common.save' : 'users.create')}
      cancelText={t('common.cancel')}
      confirmLoading={create.isPending || update.isPending}
      onOk={() => form.submit()}
      onCancel={onClose}
      destroyOnHidden
    >
      {error && <Alert type="error" showIcon role="alert" message={error} style={{ marginBottom: 16 }} />}
      <Form<Values>
        form={form}
        layout="vertical"
        onFinish={(values) => void submit(values)}
        initialValues={user ?? { role: 'viewer', temporary: true }}
        requiredMark
      >
        <Form.Item name="username" label={t('users.fields.username')} rules={[{ required: true, message: t('validation.required') }]}>
          <Input autoComplete="off" disabled={editing} />
        </Form.Item>
        <Form.Item name="first_name" label={t('users.fields.first_name')}>
          <Input autoComplete="off" />
        </Form.Item>
        <Form.Item name="last_name" label={t('users.fields.last_name')}>
          <Input autoComplete="off" />
        </Form.Item>
        <Form.Item name="email" label={t('users.fields.email')} rules={[{ type: 'email', message: t('users.email_invalid') }]}>
          <Input autoComplete="off" />
        </Form.Item>
        <Form.Item name="role" label={t('users.fields.role')} rules={[{ required: true, message: t('validation.required') }]}>
          <Select options={ROLES.map((role) => ({ value: role, label: t(`roles.${role}`) }))} />
        </Form.Item>
        {!editing && (
          <>
            <Form.Item name="password" label={t('users.fields.password')} rules={[{ required: true, message: t('validation.required') }]}>
              <Input.Password autoComplete="new-password" />
            </Form.Item>
            <Form.Item name="temporary" valuePropName="checked">
              <Checkbox>{t('users.fields.temporary')}</Checkbox>
            </Form.Item>
          </>
        )}
      </Form>
    </Modal>
  );
}

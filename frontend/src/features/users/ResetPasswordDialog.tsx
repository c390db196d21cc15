/** « Réinitialiser le mot de passe »: a new password, optionally temporary. */
import { useState } from 'react';
import { Alert, Checkbox, Form, Input, Modal } from 'antd';
import { useTranslation } from 'react-i18next';
import { ApiError } from '../../api/client';
import type { User } from '../../api/types';
import { useResetPassword } from './api';
import { userError } from './UsersListPage';

interface Values {
  password: string;
  temporary: boolean;
}

export function ResetPasswordDialog({ user, onClose, notify }: { user: User; onClose: () => void; notify: (text: string) => void }) {
  const { t } = useTranslation();
  const [form] = Form.useForm<Values>();
  const [error, setError] = useState<string | null>(null);
  const reset = useResetPassword();

  const submit = async (values: Values) => {
    setError(null);
    try {
      await reset.mutateAsync({ id: user.id, password: values.password, temporary: Boolean(values.temporary) });
      notify(t('users.password_reset', { name: user.username }));
      onClose();
    } catch (caught) {
      if (!(caught instanceof ApiError)) throw caught;
      const errors = caught.fieldErrors().password;
      if (errors) form.setFields([{ name: 'password', errors }]);
      else setError(userError(caught, t));
    }
  };

  return (
    <Modal
      open
      title={`${t('users.reset_password')} — ${user.username}`}
      okText={t('users.reset_password')}
      cancelText={t('common.cancel')}
      confirmLoading={reset.isPending}
      onOk={() => form.submit()}
      onCancel={onClose}
      destroyOnHidden
    >
      {error && <Alert type="error" showIcon role="alert" message={error} style={{ marginBottom: 16 }} />}
      <Form<Values> form={form} layout="vertical" initialValues={{ temporary: true }} onFinish={(values) => void submit(values)}>
        <Form.Item name="password" label={t('users.fields.new_password')} rules={[{ required: true, message: t('validation.required') }]}>
          <Input.Password autoComplete="new-password" />
        </Form.Item>
        <Form.Item name="temporary" valuePropName="checked">
          <Checkbox>{t('users.fields.temporary')}</Checkbox>
        </Form.Item>
      </Form>
    </Modal>
  );
}

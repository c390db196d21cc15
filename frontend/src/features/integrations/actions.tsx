/** What the list and the integration's page both do: (de)activate and delete, with a
 * confirmation, and the creation / edit dialogs with the once-shown secret. */
import { useState, type ReactNode } from 'react';
import { message as antMessage, Modal } from 'antd';
import { useTranslation } from 'react-i18next';
import { errorMessage } from '../../api/errors';
import { useDeleteIntegration, useUpdateIntegration, type Integration, type IntegrationCreated } from './api';
import { IntegrationFormDialog } from './IntegrationFormDialog';
import { SecretDialog } from './SecretDialog';

export function useIntegrationActions({ onDeleted, onCreated }: { onDeleted?: () => void; onCreated?: (id: string) => void } = {}) {
  const { t } = useTranslation();
  const [modal, modalHolder] = Modal.useModal();
  const [message, messageHolder] = antMessage.useMessage();
  const [editing, setEditing] = useState<Integration | 'new' | null>(null);
  const [created, setCreated] = useState<IntegrationCreated | null>(null);
  const update = useUpdateIntegration();
  const remove = useDeleteIntegration();

  const toggle = (integration: Integration) => {
    const deactivate = integration.active !== false;
    modal.confirm({
      title: t(deactivate ? 'integrations.deactivate_title' : 'integrations.activate_title'),
      content: t(deactivate ? 'integrations.deactivate_confirm' : 'integrations.activate_confirm', { name: integration.name }),
      okText: t(deactivate ? 'integrations.deactivate' : 'integrations.activate'),
      okButtonProps: deactivate ? { danger: true } : undefined,
      cancelText: t('common.cancel'),
      onOk: async () => {
        try {
          await update.mutateAsync({ id: integration.id, changes: { active: !deactivate } });
          void message.success(t(deactivate ? 'integrations.deactivated' : 'integrations.activated', { name: integration.name }));
        } catch (caught) {
          modal.error({ title: t('integrations.action_failed'), content: errorMessage(caught, t) });
        }
      },
    });
  };

  const confirmDelete = (integration: Integration) => {
    modal.confirm({
      title: t('integrations.delete_title'),
      content: t('integrations.delete_confirm', { name: integration.name }),
      okText: t('common.delete'),
      okButtonProps: { danger: true },
      cancelText: t('common.cancel'),
      onOk: async () => {
        try {
          await remove.mutateAsync(integration.id);
          void message.success(t('integrations.deleted', { name: integration.name }));
          onDeleted?.();
        } catch (caught) {
          modal.error({ title: t('integrations.action_failed'), content: errorMessage(caught, t) });
        }
      },
    });
  };

  const dialogs: ReactNode = (
    <>
      {modalHolder}
      {messageHolder}
      {editing && (
        <IntegrationFormDialog
          integration={editing === 'new' ? null : editing}
          onClose={() => setEditing(null)}
          onCreated={(integration) => {
            setEditing(null);
            setCreated(integration);
          }}
          onSaved={(integration) => {
            setEditing(null);
            void message.success(t('integrations.saved', { name: integration.name }));
          }}
        />
      )}
      {created && (
        <SecretDialog
          name={created.name}
          secret={created.secret ?? ''}
          onClose={() => {
            const id = created.id;
            setCreated(null);
            onCreated?.(id);
          }}
        />
      )}
    </>
  );

  return { dialogs, toggle, confirmDelete, create: () => setEditing('new'), edit: (integration: Integration) => setEditing(integration) };
}

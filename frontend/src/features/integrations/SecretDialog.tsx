/** The signing secret of a new integration, shown this once (the API never returns it
 * again): a copy button and a clear warning. */
import { useState } from 'react';
import { Alert, Button, Modal, Space, Typography } from 'antd';
import { CopyOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';

export function SecretDialog({ name, secret, onClose }: { name: string; secret: string; onClose: () => void }) {
  const { t } = useTranslation();
  const [copied, setCopied] = useState<'yes' | 'no' | null>(null);

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied('yes');
    } catch {
      setCopied('no');
    }
  };

  return (
    <Modal
      open
      title={t('integrations.secret_title', { name })}
      closable={false}
      maskClosable={false}
      keyboard={false}
      footer={
        <Button type="primary" onClick={onClose}>
          {t('integrations.secret_done')}
        </Button>
      }
    >
      <Space direction="vertical" style={{ width: '100%' }}>
        <Alert type="warning" showIcon message={t('integrations.secret_warning')} />
        <Typography.Paragraph>{t('integrations.secret_help')}</Typography.Paragraph>
        <Typography.Text code data-testid="integration-secret" style={{ wordBreak: 'break-all' }}>
          {secret}
        </Typography.Text>
        <Button icon={<CopyOutlined />} onClick={() => void copy()}>
          {t('integrations.secret_copy')}
        </Button>
        {copied && (
          <Typography.Text role="status">
            {t(copied === 'yes' ? 'integrations.secret_copied' : 'integrations.secret_copy_failed')}
          </Typography.Text>
        )}
      </Space>
    </Modal>
  );
}

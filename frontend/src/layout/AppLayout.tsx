/** Guide 3.1: the side menu (guide's order, role-filtered) and the header. */
import { Suspense, useMemo } from 'react';
import { Button, Layout, Menu, Space, Spin, Tag } from 'antd';
import { LogoutOutlined, UserOutlined } from '@ant-design/icons';
import { Link, Outlet, useLocation } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import { useAuth } from '../auth/AuthContext';
import { FEATURES } from '../features/registry';
import { menuItems } from './menuItems';
import { LanguageToggle } from './LanguageToggle';
import { ServiceBanner } from '../components/ServiceBanner';

const { Header, Sider, Content } = Layout;

export function AppLayout() {
  const { t } = useTranslation();
  const auth = useAuth();
  const { pathname } = useLocation();
  const visible = useMemo(() => FEATURES.filter((feature) => auth.can(feature.action)), [auth]);
  const selected = visible.find((feature) => pathname.startsWith(feature.path));

  // The side menu and the header as elements that change only with the page or the
  // user: a list's search or filter change (the URL's query) does not render them again.
  const sider = useMemo(() => {
    const items = menuItems(visible, (feature) => (
      <Link to={feature.path}>{t(feature.labelKey)}</Link>
    ), (section) => t(`menu.${section}`));
    return (
      <Sider breakpoint="lg" collapsedWidth={0} width={264} theme="light">
        <div style={{ padding: '16px 20px' }}>
          <strong>{t('app.short_title')}</strong>
        </div>
        <nav aria-label={t('menu.label')}>
          <Menu
            mode="inline"
            selectedKeys={selected ? [selected.path] : []}
            defaultOpenKeys={selected ? [selected.section] : []}
            items={items}
          />
        </nav>
      </Sider>
    );
  }, [t, visible, selected]);

  const header = useMemo(() => (
    <Header
      style={{
        background: '#fff',
        padding: '0 24px',
        display: 'flex',
        justifyContent: 'space-between',
        alignItems: 'center',
      }}
    >
      <h1 style={{ fontSize: 18, margin: 0, fontWeight: 600 }}>{t('app.title')}</h1>
      <Space size="middle">
        <Space data-testid="current-user">
          <UserOutlined aria-hidden />
          <span>{auth.user.name}</span>
          {auth.role && <Tag color="blue">{t(`roles.${auth.role}`)}</Tag>}
        </Space>
        <LanguageToggle />
        <Button icon={<LogoutOutlined />} onClick={() => void auth.logout()}>
          {t('auth.logout')}
        </Button>
      </Space>
    </Header>
  ), [t, auth]);

  return (
    <Layout style={{ minHeight: '100vh' }}>
      {sider}
      <Layout>
        {header}
        <Content style={{ margin: 24 }}>
          <main>
            <ServiceBanner />
            <Suspense fallback={<Spin tip={t('common.loading')}><div style={{ minHeight: 120 }} /></Spin>}>
              <Outlet />
            </Suspense>
          </main>
        </Content>
      </Layout>
    </Layout>
  );
}

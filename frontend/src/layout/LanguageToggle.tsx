/** FR / EN; the choice (and only it) is remembered in localStorage. */
import { Segmented } from 'antd';
import { useTranslation } from 'react-i18next';
import { setLanguage, type Language } from '../i18n';

export function LanguageToggle() {
  const { t, i18n } = useTranslation();
  return (
    <Segmented<Language>
      aria-label={t('language.label')}
      size="small"
      value={i18n.language === 'en' ? 'en' : 'fr'}
      onChange={(value) => void setLanguage(value)}
      options={[
        { value: 'fr', label: t('language.fr_short'), title: t('language.fr') },
        { value: 'en', label: t('language.en_short'), title: t('language.en') },
      ]}
    />
  );
}
